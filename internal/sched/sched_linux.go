package sched

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrNoPrivilege reports that threads cannot be moved back from SCHED_IDLE.
var ErrNoPrivilege = errors.New("moving threads back to normal priority needs CAP_SYS_NICE")

var (
	mu     sync.Mutex
	active int // Background calls not yet restored
	saved  struct {
		nice  int // the process's nice value before Background
		procs int // GOMAXPROCS before Background
	}
)

// Background moves every thread of the process to SCHED_IDLE and raises
// GOMAXPROCS by spare. The returned function undoes both; it must be called
// once. Calls nest: the last restore moves the threads back.
func Background(spare int) (restore func(), err error) {
	mu.Lock()
	defer mu.Unlock()
	if active == 0 {
		if err := canForeground(); err != nil {
			return nil, err
		}
		a, err := unix.SchedGetAttr(os.Getpid(), 0)
		if err != nil {
			return nil, fmt.Errorf("sched: read the main thread's priority: %w", err)
		}
		saved.nice = int(int32(a.Nice))
		saved.procs = runtime.GOMAXPROCS(0)
		if err := eachThread(func(tid int) error { return setIdle(tid) }); err != nil {
			eachThread(func(tid int) error { return setNormal(tid, saved.nice) })
			return nil, err
		}
		runtime.GOMAXPROCS(max(saved.procs, runtime.NumCPU()) + max(spare, 1))
	}
	active++
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			if active--; active > 0 {
				return
			}
			runtime.GOMAXPROCS(saved.procs)
			eachThread(func(tid int) error { return setNormal(tid, saved.nice) })
		})
	}, nil
}

// Spare gives the Go scheduler n more Ps while in the background, for
// readers started after Background.
func Spare(n int) {
	mu.Lock()
	defer mu.Unlock()
	if active > 0 && n > 0 {
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + n)
	}
}

// Foreground locks the calling goroutine to its thread and moves the
// thread to normal priority (SCHED_OTHER, the kernel's SCHED_NORMAL, at the nice value the process had
// before Background). The goroutine must end without unlocking: its thread
// then ends with it. Outside Background it only locks the thread.
func Foreground() error {
	runtime.LockOSThread()
	mu.Lock()
	on, nice := active > 0, saved.nice
	mu.Unlock()
	if !on {
		return nil
	}
	return setNormal(unix.Gettid(), nice)
}

// Nice lowers the calling thread to nice 19 and leaves its policy alone.
// The caller must have locked the goroutine to its thread.
func Nice() error {
	return unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 19)
}

// Idle moves the calling thread to SCHED_IDLE at nice 19, for a thread
// that starts processes meant to run in the background: they inherit
// both. Best effort: nice 19 alone where SCHED_IDLE is refused. The caller
// must have locked the goroutine to its thread, which then should end
// with the goroutine rather than go back to the runtime.
func Idle() {
	Nice()
	setIdle(unix.Gettid())
}

// Policy describes the calling thread's scheduling, e.g. "idle" or
// "normal, nice 0". For tests and diagnostics.
func Policy() string {
	return policyOf(unix.Gettid())
}

// Census counts the process's threads by Policy. For tests and
// diagnostics.
func Census() map[string]int {
	m := map[string]int{}
	eachThread(func(tid int) error {
		if p := policyOf(tid); !strings.HasPrefix(p, "unknown") { // ended meanwhile
			m[p]++
		}
		return nil
	})
	return m
}

func policyOf(tid int) string {
	a, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		return "unknown: " + err.Error()
	}
	switch a.Policy {
	case unix.SCHED_IDLE:
		return "idle"
	case unix.SCHED_NORMAL:
		return fmt.Sprintf("normal, nice %d", int32(a.Nice))
	case unix.SCHED_BATCH:
		return fmt.Sprintf("batch, nice %d", int32(a.Nice))
	}
	return fmt.Sprintf("policy %d", a.Policy)
}

// canForeground finds out, on a thread of its own, whether a thread moved
// to SCHED_IDLE can come back.
func canForeground() error {
	done := make(chan error)
	go func() {
		// The thread ends with this goroutine, whatever its policy.
		runtime.LockOSThread()
		tid := unix.Gettid()
		if err := setIdle(tid); err != nil {
			done <- fmt.Errorf("sched: SCHED_IDLE: %w", err)
			return
		}
		if err := setNormal(tid, 0); err != nil {
			if errors.Is(err, unix.EPERM) {
				err = ErrNoPrivilege
			}
			done <- err
			return
		}
		done <- nil
	}()
	return <-done
}

func setIdle(tid int) error {
	return unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}, 0)
}

func setNormal(tid, nice int) error {
	return unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL, Nice: int32(nice)}, 0)
}

// eachThread calls f once for every thread of the process, listing them
// again until a listing shows none it has not seen: a thread created
// meanwhile by one not yet changed is caught by the next round. Threads
// that end meanwhile are skipped; the first other error is returned after
// all have been tried.
func eachThread(f func(tid int) error) error {
	done := map[int]bool{}
	var first error
	for round := 0; round < 8; round++ {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("sched: list threads: %w", err)
		}
		fresh := false
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || done[tid] {
				continue
			}
			done[tid], fresh = true, true
			if err := f(tid); err != nil && !errors.Is(err, unix.ESRCH) && first == nil {
				first = fmt.Errorf("sched: thread %d: %w", tid, err)
			}
		}
		if !fresh {
			break
		}
	}
	return first
}
