package main

import (
	"os"
	"runtime/pprof"
	"sync"
)

// startProfile is for performance work: IFACETRACE_CPUPROFILE=FILE writes a
// CPU profile of the run (go tool pprof FILE) and IFACETRACE_MEMPROFILE=FILE
// its allocations. Built-in plugins inherit the variables and write
// FILE.NAME (e.g. cpu.pcapng) beside the main process's FILE, with suffix
// ".NAME". The returned function writes the profiles; it may be called more
// than once.
func startProfile(suffix string) func() {
	cpu, mem := os.Getenv("IFACETRACE_CPUPROFILE"), os.Getenv("IFACETRACE_MEMPROFILE")
	if cpu == "" && mem == "" {
		return func() {}
	}
	var cpuFile *os.File
	if cpu != "" {
		if f, err := os.Create(cpu + suffix); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				cpuFile = f
			} else {
				f.Close()
			}
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if cpuFile != nil {
				pprof.StopCPUProfile()
				cpuFile.Close()
			}
			if mem != "" {
				if f, err := os.Create(mem + suffix); err == nil {
					pprof.Lookup("allocs").WriteTo(f, 0)
					f.Close()
				}
			}
		})
	}
}
