package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process: a role of this binary or the gateway.
type proc struct {
	name    string
	cmd     *exec.Cmd
	addr    string // "127.0.0.1:port" it serves on
	logPath string // its stdout and stderr
	done    chan struct{}
	err     error // its exit, once done is closed
}

// url returns the base URL of the process.
func (p *proc) url() string { return "http://" + p.addr }

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to timeout for the process to exit,
// then kills it. It returns the exit error, or an error saying it had to
// be killed.
func (p *proc) stop(timeout time.Duration) error {
	if p.exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %v of SIGTERM; killed", p.name, timeout)
	}
}

// memory returns the process's resident set size and its peak, in bytes.
func (p *proc) memory() (rss, peak int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	if rss, err = statusBytes(b, "VmRSS"); err != nil {
		return 0, 0, err
	}
	peak, err = statusBytes(b, "VmHWM")
	return rss, peak, err
}

// statusBytes returns a "Name:   1234 kB" field of /proc/<pid>/status in
// bytes.
func statusBytes(status []byte, name string) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte(name+":"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			break
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s in process status", name)
}

// clockTick is the unit of the CPU times in /proc: USER_HZ, which Linux
// fixes at 100 on every architecture.
const clockTick = 10 * time.Millisecond

// cpuTicks returns the CPU time (user and system, in clock ticks) the
// processes have used so far; exited ones count 0.
func cpuTicks(ps []*proc) int64 {
	var sum int64
	for _, p := range ps {
		if p.exited() {
			continue
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/stat")
		if err != nil {
			continue
		}
		sum += statTicks(b)
	}
	return sum
}

// statTicks returns utime+stime of a /proc/<pid>/stat line, 0 if it
// cannot be parsed.
func statTicks(stat []byte) int64 {
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis, where field 3 (state) comes first.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return utime + stime
}

// cpuSample is a reading of the CPU time used by the whole machine and by
// the run's own processes (this one and its children), in clock ticks.
type cpuSample struct {
	busy, total, ours int64
}

// sampleCPU reads the machine's CPU counters and the run's processes'.
func sampleCPU(ps []*proc) cpuSample {
	var s cpuSample
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		s.busy, s.total = machineTicks(b)
	}
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		s.ours = statTicks(b)
	}
	s.ours += cpuTicks(ps)
	return s
}

// machineTicks returns the busy and total ticks of all CPUs from the
// first line of /proc/stat: "cpu user nice system idle iowait irq softirq
// steal ...".
func machineTicks(stat []byte) (busy, total int64) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	var v [8]int64
	for i := range v {
		v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
	}
	busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	return busy, busy + v[3] + v[4]
}

// otherShare returns the share of the machine's CPU capacity between a
// and b that processes outside the run used: a measure of how disturbed
// the measurements were.
func otherShare(a, b cpuSample) float64 {
	total := b.total - a.total
	if total <= 0 {
		return 0
	}
	other := (b.busy - a.busy) - (b.ours - a.ours)
	return max(0, float64(other)/float64(total))
}

// tail returns the last n bytes of the process's log.
func (p *proc) tail(n int64) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// procs starts child processes and kills whatever is left of them on
// Close.
type procs struct {
	dir  string // where logs go
	mu   sync.Mutex
	list []*proc
}

// start starts cmd as a child named name whose output goes to a log file.
// Children get their own process group, so a Ctrl-C at the terminal
// reaches only this process, which then stops them; and they are killed
// by the kernel should this process die without cleaning up.
func (ps *procs) start(name string, cmd *exec.Cmd) (*proc, error) {
	logPath := filepath.Join(ps.dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close() // the child has its own copy
	if cmd.Stdout == nil {
		cmd.Stdout = lf
	}
	cmd.Stderr = lf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	return p, nil
}

// Close kills every child still running and waits for it.
func (ps *procs) Close() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.list {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// readyLine is what a role prints on stdout once it listens, followed by
// its address.
const readyLine = "listening "

// startRole re-executes this binary in a role and waits for it to listen.
func (ps *procs) startRole(ctx context.Context, name string, args ...string) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Env = childEnv(nil)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p, err := ps.start(name, cmd)
	if err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		br := bufio.NewReader(out)
		line, _ := br.ReadString('\n')
		addr <- strings.TrimSpace(strings.TrimPrefix(line, readyLine))
		io.Copy(io.Discard, br)
	}()
	select {
	case p.addr = <-addr:
	case <-time.After(15 * time.Second):
		return nil, fmt.Errorf("%s did not start listening within 15s: %s", name, p.tail(2048))
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if host, _, err := net.SplitHostPort(p.addr); err != nil || host != loopback {
		return nil, fmt.Errorf("%s: bad ready line %q: %s", name, p.addr, p.tail(2048))
	}
	return p, nil
}

// startGateway starts the gateway binary on a free loopback port with its
// SQLite database in dir, and waits until /healthz answers. The gateway
// runs in dir, so no .env of the repository applies.
func (ps *procs) startGateway(ctx context.Context, bin, dir, adminKey, redis string, limits bool) (*proc, error) {
	var lastErr error
	for range 3 { // the free port may be taken between probe and bind
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort(loopback, strconv.Itoa(port))
		cmd := exec.Command(bin)
		cmd.Dir = dir
		extra := []string{
			"LISTEN=" + addr,
			"ADMIN_KEY=" + adminKey,
			"SQLITE_PATH=" + filepath.Join(dir, "aiproxy.db"),
		}
		if limits {
			extra = append(extra, "BILLING_ENABLED=true")
		}
		if redis != "" {
			extra = append(extra, "REDIS="+redis, "REDIS_PREFIX=aiproxy-load-"+randomKey()[:12]+":")
		}
		cmd.Env = childEnv(extra)
		p, err := ps.start("gateway", cmd)
		if err != nil {
			return nil, err
		}
		p.addr = addr
		if lastErr = waitHealthy(ctx, p, 30*time.Second); lastErr == nil {
			return p, nil
		}
		p.stop(5 * time.Second)
	}
	return nil, lastErr
}

// waitHealthy polls the gateway's /healthz until it answers 200.
func waitHealthy(ctx context.Context, p *proc, limit time.Duration) error {
	hc := &http.Client{Transport: newTransport(), Timeout: time.Second}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("gateway exited (%v):\n%s", p.err, p.tail(4096))
		}
		resp, err := hc.Get(p.url() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("gateway not healthy within %v:\n%s", limit, p.tail(4096))
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// childEnv returns this process's environment without what could send a
// child elsewhere than the temporary SQLite file or loopback (database
// DSNs, Redis, HTTP proxies), plus extra.
func childEnv(extra []string) []string {
	drop := map[string]bool{
		"SQL_DSN": true, "LOG_SQL_DSN": true, "REDIS": true, "SQLITE_PATH": true,
		"LISTEN": true, "ADMIN_KEY": true, "SAVE_ALL_LOG_DETAIL": true,
		"HTTP_PROXY": true, "HTTPS_PROXY": true, "ALL_PROXY": true, "NO_PROXY": true,
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if drop[strings.ToUpper(k)] {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// buildGateway builds ./cmd/aiproxy of the module this tool belongs to
// into dir and returns the binary's path.
func buildGateway(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "aiproxy")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/aiproxy")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build gateway: %w\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot returns the directory of the main module's go.mod, as seen
// from the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the aiproxy module: run from the repository or pass -gateway")
	}
	return filepath.Dir(gomod), nil
}

// raiseFileLimit raises this process's open-file limit to its hard limit:
// thousands of open streams need thousands of sockets. Children inherit
// the raised limit.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}
