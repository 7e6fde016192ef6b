// Package sched puts a capturing process in the background while its
// readers stay in the foreground.
//
// Why: a tracer must not slow down the traffic it watches. Draining the
// capture rings costs about as much as tcpdump; correlating and writing
// costs ten times more, and on a host that forwards at its limit that work
// must take only CPU time nobody else wants. Lowering the priority of that
// work alone is not enough. Measured in this repository's lab (docs/
// benchmarks.md): with the delivery thread and the plugins at nice 19,
// the packet generator lost 13 % of its CPU, not to the nice-19 work but to
// the readers and the Go runtime's other threads at normal priority, which
// the kernel woke on the generator's CPU because the other one was busy.
// A nice-19 thread makes its CPU look busy; only SCHED_IDLE threads leave
// it looking idle to the kernel's wake-up placement. A CPU hog at nice 19
// cut tcpdump's forwarding by 18 %, the same hog at SCHED_IDLE by 5 %.
//
// So Background moves every thread of the process to SCHED_IDLE, and each
// reader calls Foreground to move its own locked thread back to normal
// priority. Threads the Go runtime creates later inherit SCHED_IDLE from
// the thread that creates them (Go creates threads for locked goroutines
// from its template thread, which is in the background too). Background
// also gives the Go scheduler spare Ps, so that a reader coming back from
// a system call finds one free even when every other P is held by a
// background thread the kernel has not scheduled.
//
// Raising a thread back from SCHED_IDLE needs CAP_SYS_NICE (root has it);
// Background reports ErrNoPrivilege without changing anything when the
// process lacks it, and callers fall back to lowering only their own
// threads (Nice), which needs no privilege.
//
// The cost: on a host whose every CPU is busy at normal priority, the
// background threads get almost no CPU. Whatever a reader waits for must
// therefore not be held by a background thread: a lock it shares with one
// (the caller keeps those critical sections in the foreground too), or a
// stop-the-world pause of the Go collector, which waits for every thread
// running Go code (measured: 503 ms, during a burst that kept both CPUs of
// a VM busy). The capture rings absorb short waits, and the kernel counts
// drops when they cannot; so the tracer's readers allocate nothing once
// started, and the collector is off while a burst holds delivery back
// (package tracer).
package sched
