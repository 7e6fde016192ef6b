package sched

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		msg := "needs root (CAP_SYS_NICE) to move threads back from SCHED_IDLE: run `sudo make test`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: not skipping)")
		}
		t.Skip(msg)
	}
}

// threads returns the policy of every thread of the process.
func threads(t *testing.T) map[int]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]string{}
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		if p := policyOf(tid); !strings.HasPrefix(p, "unknown") {
			m[tid] = p
		}
	}
	return m
}

func TestBackgroundAndForeground(t *testing.T) {
	needRoot(t)
	procs := runtime.GOMAXPROCS(0)
	restore, err := Background(3)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := runtime.GOMAXPROCS(0), max(procs, runtime.NumCPU())+3; got != want {
		t.Errorf("GOMAXPROCS in the background = %d, want %d", got, want)
	}
	for tid, p := range threads(t) {
		if p != "idle" {
			t.Errorf("thread %d is %q in the background, want idle", tid, p)
		}
	}
	// A thread the runtime creates now (a locked goroutine forces a new
	// one) inherits the background; a foreground thread is normal.
	type pol struct{ fresh, fore string }
	got := make(chan pol)
	go func() {
		runtime.LockOSThread()
		fresh := Policy()
		if err := Foreground(); err != nil {
			t.Error(err)
		}
		got <- pol{fresh, Policy()}
	}()
	p := <-got
	if p.fore != "normal, nice 0" {
		t.Errorf("foreground thread: %q, want normal, nice 0", p.fore)
	}
	if p.fresh != "idle" && p.fresh != "normal, nice 0" {
		t.Errorf("fresh thread: %q", p.fresh)
	}
	restore()
	restore() // once only
	if got := runtime.GOMAXPROCS(0); got != procs {
		t.Errorf("GOMAXPROCS after restore = %d, want %d", got, procs)
	}
	for tid, p := range threads(t) {
		if p != "normal, nice 0" {
			t.Errorf("thread %d is %q after restore, want normal, nice 0", tid, p)
		}
	}
}

func TestNested(t *testing.T) {
	needRoot(t)
	r1, err := Background(1)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Background(1)
	if err != nil {
		t.Fatal(err)
	}
	r2()
	if p := policyOf(os.Getpid()); p != "idle" {
		t.Errorf("main thread after the inner restore: %q, want idle", p)
	}
	r1()
	if p := policyOf(os.Getpid()); p != "normal, nice 0" {
		t.Errorf("main thread after the outer restore: %q", p)
	}
}

// Without CAP_SYS_NICE, Background refuses and changes nothing: the test
// binary re-executed without that capability says what it saw.
func TestNoPrivilege(t *testing.T) {
	if os.Getenv("SCHED_TEST_CHILD") == "1" {
		_, err := Background(1)
		pol := policyOf(unix.Gettid())
		if !errors.Is(err, ErrNoPrivilege) {
			t.Fatalf("Background without CAP_SYS_NICE: %v, want ErrNoPrivilege", err)
		}
		if pol != "normal, nice 0" {
			t.Fatalf("thread changed: %s", pol)
		}
		return
	}
	needRoot(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("needs setpriv (util-linux)")
	}
	cmd := exec.Command(setpriv, "--inh-caps=-sys_nice", "--bounding-set=-sys_nice", os.Args[0], "-test.run=^TestNoPrivilege$", "-test.v")
	cmd.Env = append(os.Environ(), "SCHED_TEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestNoPrivilege") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// TestIdle: Idle moves the calling thread, and only it, to SCHED_IDLE at
// nice 19. It needs no privilege: it only lowers.
func TestIdle(t *testing.T) {
	type got struct {
		policy string
		nice   int32
		err    error
	}
	done := make(chan got)
	go func() {
		runtime.LockOSThread() // the thread ends with the goroutine
		Idle()
		a, err := unix.SchedGetAttr(unix.Gettid(), 0)
		if err != nil {
			done <- got{err: err}
			return
		}
		done <- got{policy: Policy(), nice: int32(a.Nice)}
	}()
	g := <-done
	if g.err != nil {
		t.Fatal(g.err)
	}
	if g.policy != "idle" || g.nice != 19 {
		t.Errorf("after Idle the thread is %q at nice %d; want idle at nice 19", g.policy, g.nice)
	}
	if p := Policy(); !strings.HasPrefix(p, "normal") {
		t.Errorf("the test's own thread is %q: Idle changed more than its caller's", p)
	}
}
