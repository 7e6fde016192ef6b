package main

import (
	"os"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
)

// startProfile is for performance work: IFACETRACE_CPUPROFILE=FILE writes a
// CPU profile of the run (go tool pprof FILE) and IFACETRACE_MEMPROFILE=FILE
// its allocations. IFACETRACE_TRACE=FILE writes an execution trace (go tool
// trace FILE: where a goroutine waited, for a P, a lock or the collector);
// "%p" in its FILE becomes the process id, for runs in a loop. Built-in
// plugins inherit the variables and write FILE.NAME (e.g. cpu.pcapng)
// beside the main process's FILE, with suffix ".NAME". The returned
// function writes the profiles; it may be called more than once.
func startProfile(suffix string) func() {
	cpu, mem, exe := os.Getenv("IFACETRACE_CPUPROFILE"), os.Getenv("IFACETRACE_MEMPROFILE"), os.Getenv("IFACETRACE_TRACE")
	if cpu == "" && mem == "" && exe == "" {
		return func() {}
	}
	var traceFile *os.File
	if exe != "" {
		name := strings.ReplaceAll(exe, "%p", strconv.Itoa(os.Getpid())) + suffix
		if f, err := os.Create(name); err == nil {
			if trace.Start(f) == nil {
				traceFile = f
			} else {
				f.Close()
			}
		}
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
			if traceFile != nil {
				trace.Stop()
				traceFile.Close()
			}
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
