// Command peers-go runs the workloads of smarm's benchmarks (bench/*.c)
// with goroutines and channels, so that bench/compare can set Go beside
// smarm on the same work.  Each workload mirrors the C program of the same
// name: the same sizes, the same rounds, the same checks and the same
// output line.
//
// Usage: peers-go BENCH [-t threads]
//
//	BENCH is yield, spawn_join, pingpong, mailbox, ring, skynet, primes,
//	parked, mutex, bounded1, bounded64, select, or echoN (N connections:
//	echo100, echo10000, ...).
//	-t sets GOMAXPROCS (default 1); yield, spawn_join and parked run
//	with 1 only, as their smarm programs do.
//
// Prints: bench=<name> threads=<n> value=<x> [first=<x>] unit=<u>
// Exits 1 when the run fails its own checks, 2 on bad arguments.
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// die reports a failed check and ends the process with status 1.
func die(name string, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "peers-go: %s: %s\n", name,
		fmt.Sprintf(format, args...))
	os.Exit(1)
}

// median of the rounds, in the unit given (the mean of the middle two
// for an even count).
func median(ts []time.Duration, unit float64) float64 {
	s := append([]time.Duration(nil), ts...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	n := len(s)
	if n%2 == 1 {
		return float64(s[n/2]) / unit
	}
	return (float64(s[n/2-1]) + float64(s[n/2])) / 2 / unit
}

// yield: two goroutines hand the one P to each other with
// runtime.Gosched, 10,000,000 switches in all.
func benchYield(threads int) {
	const total = 10000000
	const n = total / 2
	type yielder struct {
		count, changes uint64
		other          *yielder
	}
	var y [2]yielder
	var started, done int32
	var t0, t1 time.Time
	var wg sync.WaitGroup

	y[0].other, y[1].other = &y[1], &y[0]
	wg.Add(2)
	for k := range y {
		me := &y[k]
		go func() {
			defer wg.Done()
			// Start barrier: the clock starts once both run.
			atomic.AddInt32(&started, 1)
			for atomic.LoadInt32(&started) < 2 {
				runtime.Gosched()
			}
			// With one P only one of the two runs at a time, and
			// every hand-over goes through the scheduler.
			if t0.IsZero() {
				t0 = time.Now()
			}
			last := me.other.count
			for i := 0; i < n; i++ {
				me.count++
				runtime.Gosched()
				if c := me.other.count; c != last {
					last = c
					me.changes++
				}
			}
			if atomic.AddInt32(&done, 1) == 2 {
				t1 = time.Now()
			}
		}()
	}
	wg.Wait()
	// Go's scheduler takes from its global queue first on every 61st
	// pass, so now and then a yielder is picked again straight away
	// (smarm's check allows only the first and last yield to miss).
	for k := range y {
		if y[k].count != n || y[k].changes+n/20+2 < n {
			die("yield", "goroutine %d: %d yields, saw the other run "+
				"%d times; expected %d", k, y[k].count,
				y[k].changes, n)
		}
	}
	fmt.Printf("bench=yield threads=%d value=%.2f unit=ns/switch\n",
		threads, float64(t1.Sub(t0).Nanoseconds())/float64(2*n))
}

// spawn_join: 100,000 goroutines each return i + 1 into their own slot;
// a WaitGroup stands for joining them all (Go has no join handle: a
// channel per goroutine would be the costlier way to say the same), then
// every result is checked.  5 rounds, all timed.
func benchSpawnJoin(threads int) {
	const count = 100000
	const rounds = 5
	results := make([]uint64, count)
	var ts []time.Duration

	for r := 0; r < rounds; r++ {
		for i := range results {
			results[i] = 0
		}
		t0 := time.Now()
		var wg sync.WaitGroup
		wg.Add(count)
		for i := 0; i < count; i++ {
			go func(i int) {
				results[i] = uint64(i) + 1
				wg.Done()
			}(i)
		}
		wg.Wait()
		for i, v := range results {
			if v != uint64(i)+1 {
				die("spawn_join", "goroutine #%d returned %d", i, v)
			}
		}
		ts = append(ts, time.Since(t0))
	}
	fmt.Printf("bench=spawn_join threads=%d value=%.2f first=%.2f "+
		"unit=ns/actor\n", threads, median(ts, count),
		float64(ts[0].Nanoseconds())/count)
}

// pingpong: A sends i on ch1, B sends i + 1 back on ch2, 1,000,000 round
// trips over two unbuffered channels.  B's hello (0) on ch2 is the start
// barrier; each side closes its sending channel when it stops.
func benchPingpong(threads int) {
	const n = 1000000
	ch1 := make(chan uint64)
	ch2 := make(chan uint64)
	var aDone, bDone uint64
	var t0, t1 time.Time
	var wg sync.WaitGroup

	wg.Add(2)
	go func() { // A
		defer wg.Done()
		defer close(ch1)
		v, ok := <-ch2
		if !ok || v != 0 {
			return
		}
		t0 = time.Now()
		var i uint64
		for i = 0; i < n; i++ {
			ch1 <- i
			if v, ok = <-ch2; !ok || v != i+1 {
				break
			}
		}
		t1 = time.Now()
		aDone = i
	}()
	go func() { // B
		defer wg.Done()
		defer close(ch2)
		ch2 <- 0
		var k uint64
		for v := range ch1 {
			if v != k {
				break
			}
			ch2 <- v + 1
			k++
		}
		bDone = k
	}()
	wg.Wait()
	if aDone != n || bDone != n || t1.Before(t0) {
		die("pingpong", "%d round trips by A, %d by B; expected %d",
			aDone, bDone, n)
	}
	fmt.Printf("bench=pingpong threads=%d value=%.2f unit=ns/roundtrip\n",
		threads, float64(t1.Sub(t0).Nanoseconds())/n)
}

// mailbox: two goroutines, each an actor with a mailbox of its own (a
// channel of messages that carry the sender's mailbox and a number).  A
// sends i to B's mailbox; B checks it and sends i + 1 to the mailbox the
// message names; A checks that the reply is i + 1 and comes from B.
// 1,000,000 round trips, then A sends B the number mailboxStop and both
// end.  A mailbox has room for one message, the most that is ever in it,
// so that a send never waits, as a send to an actor's mailbox never does.
// As in bench/mailbox.c, B is started before A and there is no start
// barrier: A starts the clock when it first runs.
const mailboxStop = ^uint64(0) - 1

type mailMsg struct {
	from chan mailMsg
	n    uint64
}

func benchMailbox(threads int) {
	const n = 1000000
	boxA := make(chan mailMsg, 1)
	boxB := make(chan mailMsg, 1)
	var aDone, bDone uint64
	var t0, t1 time.Time
	var wg sync.WaitGroup

	wg.Add(2)
	go func() { // B
		defer wg.Done()
		var k uint64
		for {
			m := <-boxB
			if m.n == mailboxStop {
				break
			}
			if m.n != k {
				die("mailbox", "B: got %d, expected %d", m.n, k)
			}
			m.from <- mailMsg{boxB, k + 1}
			k++
		}
		bDone = k
	}()
	go func() { // A
		defer wg.Done()
		t0 = time.Now()
		var i uint64
		for i = 0; i < n; i++ {
			boxB <- mailMsg{boxA, i}
			m := <-boxA
			if m.from != boxB {
				die("mailbox", "A: reply to %d from a mailbox "+
					"not B's", i)
			}
			if m.n != i+1 {
				die("mailbox", "A: sent %d, got %d", i, m.n)
			}
		}
		t1 = time.Now()
		aDone = i
		boxB <- mailMsg{boxA, mailboxStop}
	}()
	wg.Wait()
	if aDone != n || bDone != n || t1.Before(t0) {
		die("mailbox", "%d round trips by A, %d by B; expected %d",
			aDone, bDone, n)
	}
	fmt.Printf("bench=mailbox threads=%d value=%.2f unit=ns/roundtrip\n",
		threads, float64(t1.Sub(t0).Nanoseconds())/n)
}

// ring: 1,000 goroutines in a ring of unbuffered channels pass a token
// 1,000,000 hops.  The one that makes the last hop sends the token to the
// root and closes the next one's channel; each in turn closes the next,
// until all have ended.
func benchRing(threads int) {
	const members = 1000
	const hops = 1000000
	chans := make([]chan uint64, members)
	done := make([]uint64, members)
	ready := make(chan struct{}, members)
	end := make(chan uint64, 1)
	var wg sync.WaitGroup

	for i := range chans {
		chans[i] = make(chan uint64)
	}
	wg.Add(members)
	for i := 0; i < members; i++ {
		go func(i int) {
			defer wg.Done()
			in, next := chans[i], chans[(i+1)%members]
			var d uint64
			ready <- struct{}{}
			for v := range in {
				d++
				if next == nil || v >= hops {
					die("ring", "goroutine %d: got the token as "+
						"%d after the last hop (%d)", i, v, hops)
				}
				v++
				if v == hops {
					end <- v
					close(next)
					next = nil
				} else {
					next <- v
				}
			}
			if next != nil {
				close(next)
			}
			done[i] = d
		}(i)
	}
	for i := 0; i < members; i++ {
		<-ready
	}
	t0 := time.Now()
	chans[0] <- 0
	token := <-end
	t1 := time.Now()
	wg.Wait()
	var sum uint64
	for _, d := range done {
		sum += d
	}
	if sum != hops || token != hops {
		die("ring", "%d hops made, token came back as %d; expected %d "+
			"and %d", sum, token, hops, hops)
	}
	fmt.Printf("bench=ring threads=%d value=%.2f unit=ns/hop\n", threads,
		float64(t1.Sub(t0).Nanoseconds())/hops)
}

// skynet: a 10-ary tree of goroutines over 1,000,000 leaves (1,111,111
// goroutines); each parent makes one channel with room for its 10
// children's results, so that a child never waits to send (as a smarm
// send never does).  3 trees, all timed.
const fanout = 10

func skynode(num, size uint64, up chan<- uint64) {
	if size == 1 {
		up <- num
		return
	}
	ch := make(chan uint64, fanout)
	for i := uint64(0); i < fanout; i++ {
		go skynode(num+i*(size/fanout), size/fanout, ch)
	}
	var sum uint64
	for i := 0; i < fanout; i++ {
		sum += <-ch
	}
	up <- sum
}

func benchSkynet(threads int) {
	const leaves = 1000000
	const rounds = 3
	const expected = uint64(leaves) * (leaves - 1) / 2
	var ts []time.Duration

	for r := 0; r < rounds; r++ {
		up := make(chan uint64, 1)
		t0 := time.Now()
		go skynode(0, leaves, up)
		sum := <-up
		ts = append(ts, time.Since(t0))
		if sum != expected {
			die("skynet", "the tree summed to %d; expected %d", sum,
				expected)
		}
	}
	fmt.Printf("bench=skynet threads=%d value=%.2f first=%.2f unit=ms\n",
		threads, median(ts, 1e6), float64(ts[0].Nanoseconds())/1e6)
}

// primes: the primes below 3,000,000 by trial division in 1,000
// goroutines, one range each, as bench/primes.c cuts them; the counts
// come back over one channel with room for all of them.
func isPrime(n uint32) bool {
	if n < 2 {
		return false
	}
	if n%2 == 0 {
		return n == 2
	}
	for d := uint32(3); uint64(d)*uint64(d) <= uint64(n); d += 2 {
		if n%d == 0 {
			return false
		}
	}
	return true
}

func benchPrimes(threads int) {
	const limit = 3000000
	const chunks = 1000
	const expected = 216816
	start := func(i uint64) uint32 {
		q, r := uint64(limit/chunks), uint64(limit%chunks)
		if i < r {
			return uint32(i*q + i)
		}
		return uint32(i*q + r)
	}
	ch := make(chan uint64, chunks)

	t0 := time.Now()
	for i := uint64(0); i < chunks; i++ {
		go func(lo, hi uint32) {
			var count uint64
			for n := lo; n < hi; n++ {
				if isPrime(n) {
					count++
				}
			}
			ch <- count
		}(start(i), start(i+1))
	}
	var primes uint64
	for i := 0; i < chunks; i++ {
		primes += <-ch
	}
	t1 := time.Now()
	if primes != expected {
		die("primes", "the counts add up to %d; expected %d primes "+
			"below %d", primes, expected, limit)
	}
	fmt.Printf("bench=primes threads=%d value=%.2f unit=ms\n", threads,
		float64(t1.Sub(t0).Nanoseconds())/1e6)
}

// mutex: 100 goroutines each take one sync.Mutex 10,000 times, increment
// a counter they share while they hold it, unlock it and call
// runtime.Gosched, so that the others get their turn between two of its
// locks.  The time from before the first goroutine starts to after
// the WaitGroup says all ended, over the 1,000,000 locks, is the figure.
// The counter must be 1,000,000 and each goroutine must have locked
// 10,000 times.
func benchMutex(threads int) {
	const workers = 100
	const locks = 10000
	var mu sync.Mutex
	var counter uint64
	done := make([]uint64, workers)
	var wg sync.WaitGroup

	t0 := time.Now()
	wg.Add(workers)
	for k := 0; k < workers; k++ {
		go func(k int) {
			defer wg.Done()
			var i uint64
			for i = 0; i < locks; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
				runtime.Gosched()
			}
			done[k] = i
		}(k)
	}
	wg.Wait()
	t1 := time.Now()
	for k, d := range done {
		if d != locks {
			die("mutex", "goroutine %d locked %d times; expected %d",
				k, d, locks)
		}
	}
	if counter != workers*locks {
		die("mutex", "the counter is %d; expected %d", counter,
			workers*locks)
	}
	fmt.Printf("bench=mutex threads=%d value=%.2f unit=ns/lock\n",
		threads, float64(t1.Sub(t0).Nanoseconds())/(workers*locks))
}

// bounded1, bounded64: one goroutine sends 0, 1, ..., 999,999 on a
// channel buffered for capc elements (a send waits while it is full) and
// closes it; another receives until the close, checking that each
// number is the one after the last.  The time from before the first
// goroutine starts to after both ended, over 1,000,000, is the figure.
func benchBounded(capc int) func(int) {
	return func(threads int) {
		const n = 1000000
		name := fmt.Sprintf("bounded%d", capc)
		ch := make(chan uint64, capc)
		var sent, received uint64
		var wg sync.WaitGroup

		t0 := time.Now()
		wg.Add(2)
		go func() { // the consumer
			defer wg.Done()
			var k uint64
			for v := range ch {
				if v != k {
					die(name, "consumer: got %d, expected %d",
						v, k)
				}
				k++
			}
			received = k
		}()
		go func() { // the producer
			defer wg.Done()
			var i uint64
			for i = 0; i < n; i++ {
				ch <- i
			}
			sent = i
			close(ch)
		}()
		wg.Wait()
		t1 := time.Now()
		if sent != n || received != n {
			die(name, "%d sent, %d received in order; expected %d",
				sent, received, n)
		}
		fmt.Printf("bench=%s threads=%d value=%.2f unit=ns/element\n",
			name, threads, float64(t1.Sub(t0).Nanoseconds())/n)
	}
}

// select: 8 goroutines each send 0, 1, ..., 124,999 on a channel of
// their own and close it; the channels are buffered for 64 elements (Go
// has no unbounded channel; smarm's are unbounded).  One goroutine
// receives with a select statement over the 8 (written out: reflect.Select
// would cost more than the channels), a closed channel's case disabled by
// setting it to nil, until all 8 are closed; each producer's numbers must
// arrive in order, all of them.  The time from before the first goroutine
// starts to after all ended, over the 1,000,000 elements, is the figure.
func benchSelect(threads int) {
	const producers = 8
	const per = 125000
	var chans [producers]chan uint64
	var sent [producers]uint64
	var got [producers]uint64
	var received uint64
	var wg sync.WaitGroup

	for k := range chans {
		chans[k] = make(chan uint64, 64)
	}
	t0 := time.Now()
	wg.Add(producers + 1)
	go func() { // the consumer
		defer wg.Done()
		c := chans
		open := producers
		take := func(k int, v uint64, ok bool) {
			if !ok {
				if got[k] != per {
					die("select", "channel %d closed after %d "+
						"elements; expected %d", k, got[k], per)
				}
				c[k] = nil
				open--
				return
			}
			if v != got[k] {
				die("select", "channel %d: got %d, expected %d", k,
					v, got[k])
			}
			got[k]++
			received++
		}
		for open > 0 {
			select {
			case v, ok := <-c[0]:
				take(0, v, ok)
			case v, ok := <-c[1]:
				take(1, v, ok)
			case v, ok := <-c[2]:
				take(2, v, ok)
			case v, ok := <-c[3]:
				take(3, v, ok)
			case v, ok := <-c[4]:
				take(4, v, ok)
			case v, ok := <-c[5]:
				take(5, v, ok)
			case v, ok := <-c[6]:
				take(6, v, ok)
			case v, ok := <-c[7]:
				take(7, v, ok)
			}
		}
	}()
	for k := 0; k < producers; k++ {
		go func(k int) {
			defer wg.Done()
			var i uint64
			for i = 0; i < per; i++ {
				chans[k] <- i
			}
			sent[k] = i
			close(chans[k])
		}(k)
	}
	wg.Wait()
	t1 := time.Now()
	for k := 0; k < producers; k++ {
		if sent[k] != per || got[k] != per {
			die("select", "producer %d sent %d, %d received in order; "+
				"expected %d", k, sent[k], got[k], per)
		}
	}
	if received != producers*per {
		die("select", "%d received; expected %d", received,
			producers*per)
	}
	fmt.Printf("bench=select threads=%d value=%.2f unit=ns/element\n",
		threads, float64(t1.Sub(t0).Nanoseconds())/(producers*per))
}

// rss is the resident set of this process in bytes (/proc/self/statm).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		die("parked", "%v", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		die("parked", "/proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		die("parked", "/proc/self/statm: %v", err)
	}
	return pages * uint64(os.Getpagesize())
}

// parked: 100,000 goroutines each blocked receiving on a channel of its
// own.  The resident set is read before anything is made for them and
// once each has said it runs (it says so just before it blocks, and on
// one P the root runs again only once it has); then every channel is
// closed, and each goroutine must see that and end.
func benchParked(threads int) {
	const n = 100000
	var ended int64
	var wg sync.WaitGroup

	before := rss()
	chans := make([]chan uint64, n)
	ready := make(chan struct{}, n)
	wg.Add(n)
	for i := range chans {
		chans[i] = make(chan uint64)
		go func(c chan uint64) {
			defer wg.Done()
			ready <- struct{}{}
			if _, ok := <-c; !ok {
				atomic.AddInt64(&ended, 1)
			}
		}(chans[i])
	}
	for i := 0; i < n; i++ {
		<-ready
	}
	after := rss()
	for _, c := range chans {
		close(c)
	}
	wg.Wait()
	if ended != n {
		die("parked", "%d of %d goroutines ended when their channel "+
			"closed", ended, n)
	}
	fmt.Printf("bench=parked threads=%d value=%.0f unit=bytes/actor\n",
		threads, (float64(after)-float64(before))/n)
}

// echo100, echo10000 (echoN): a TCP echo server and N connections to
// it, all in this process, as in bench/echo.c.  The server listens on
// 127.0.0.1 (an ephemeral port; the backlog is net.core.somaxconn, what
// Go asks for), accepts N connections and serves each in a goroutine of
// its own that reads what there is (up to 1 KiB) and writes it back until
// end of file.  The connections are made in waves of echoConnectWave
// goroutines, each dialling, setting TCP_NODELAY (Go's default) and
// sending one message through the echo, so that no more than a wave waits
// in the listening socket's queue.  Then 5 rounds, all timed: in each, a
// goroutine per connection makes 20,000 / N round trips (at least one)
// of a 64-byte message, writing it and reading it all back and comparing;
// the round ends when the WaitGroup says all did.  At the end the client
// connections are closed; every server goroutine must see end of file,
// having echoed every byte.  Both ends of every connection are in this
// process: the limit on open files must allow 2N + echoFDSlack.
const (
	echoMsgSize     = 64
	echoServerBuf   = 1024
	echoRoundTrips  = 20000 // per round, all connections
	echoRounds      = 5
	echoConnectWave = 256
	echoFDSlack     = 64
)

// echoFill writes the bytes of message seq on connection id: its two
// numbers, then bytes made from them.
func echoFill(m []byte, id, seq uint64) {
	binary.LittleEndian.PutUint64(m[0:], id)
	binary.LittleEndian.PutUint64(m[8:], seq)
	for k := 16; k < echoMsgSize; k++ {
		m[k] = byte(id*7 + seq*13 + uint64(k))
	}
}

// echoConn is the client end of one connection.
type echoConn struct {
	c       *net.TCPConn
	id, seq uint64
	out, in [echoMsgSize]byte
}

func (e *echoConn) roundTrips(name string, n uint64) {
	for i := uint64(0); i < n; i++ {
		echoFill(e.out[:], e.id, e.seq)
		if _, err := e.c.Write(e.out[:]); err != nil {
			die(name, "connection %d, message %d: write: %v", e.id,
				e.seq, err)
		}
		if _, err := io.ReadFull(e.c, e.in[:]); err != nil {
			die(name, "connection %d, message %d: read: %v", e.id,
				e.seq, err)
		}
		if !bytes.Equal(e.in[:], e.out[:]) {
			die(name, "connection %d, message %d: the echo differs "+
				"from what was sent", e.id, e.seq)
		}
		e.seq++
	}
}

// echoRaiseNofile raises the soft limit on open files to the hard one
// when it is below need, or ends the process saying why it cannot.
func echoRaiseNofile(name string, conns, need uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		die(name, "getrlimit(RLIMIT_NOFILE): %v", err)
	}
	if rl.Cur >= need {
		return
	}
	if rl.Max < need {
		die(name, "the limit on open files is too low: %d connections "+
			"with both ends in this process need %d descriptors, the "+
			"hard limit (RLIMIT_NOFILE) is %d; raise it (as root: "+
			"ulimit -Hn %d, prlimit --nofile, LimitNOFILE= of a "+
			"systemd unit)", conns, need, rl.Max, need)
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		die(name, "setrlimit(RLIMIT_NOFILE, %d): %v", rl.Cur, err)
	}
}

func benchEcho(conns int) func(int) {
	return func(threads int) {
		name := fmt.Sprintf("echo%d", conns)
		n := uint64(conns)
		per := uint64(echoRoundTrips) / n
		if per == 0 {
			per = 1
		}
		echoRaiseNofile(name, n, 2*n+echoFDSlack)

		ln, err := net.ListenTCP("tcp4",
			&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			die(name, "listen on 127.0.0.1: %v", err)
		}
		addr := ln.Addr().(*net.TCPAddr)
		var accepted, served, echoed uint64
		var swg sync.WaitGroup
		acceptDone := make(chan struct{})
		go func() { // the server
			defer close(acceptDone)
			for k := 0; k < conns; k++ {
				c, err := ln.AcceptTCP()
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err != nil {
					die(name, "server: accept: %v", err)
				}
				if err := c.SetNoDelay(true); err != nil {
					die(name, "server: TCP_NODELAY: %v", err)
				}
				swg.Add(1)
				go func(c *net.TCPConn) {
					defer swg.Done()
					buf := make([]byte, echoServerBuf)
					var b uint64
					for {
						m, err := c.Read(buf)
						if m > 0 {
							w, werr := c.Write(buf[:m])
							b += uint64(w)
							if werr != nil {
								die(name, "server: write: %v",
									werr)
							}
						}
						if err == io.EOF {
							atomic.AddUint64(&served, 1)
							break
						}
						if err != nil {
							die(name, "server: read: %v", err)
						}
					}
					atomic.AddUint64(&echoed, b)
					c.Close()
				}(c)
				atomic.AddUint64(&accepted, 1)
			}
		}()

		cs := make([]*echoConn, conns)
		dialer := net.Dialer{Timeout: 10 * time.Second}
		for k := 0; k < conns; k += echoConnectWave {
			end := k + echoConnectWave
			if end > conns {
				end = conns
			}
			var wg sync.WaitGroup
			wg.Add(end - k)
			for i := k; i < end; i++ {
				go func(i int) {
					defer wg.Done()
					c, err := dialer.Dial("tcp4", addr.String())
					if err != nil {
						die(name, "connection %d: dial: %v", i, err)
					}
					e := &echoConn{c: c.(*net.TCPConn), id: uint64(i)}
					if err := e.c.SetNoDelay(true); err != nil {
						die(name, "connection %d: TCP_NODELAY: %v",
							i, err)
					}
					e.roundTrips(name, 1)
					cs[i] = e
				}(i)
			}
			wg.Wait()
		}

		var ts []time.Duration
		for r := 0; r < echoRounds; r++ {
			t0 := time.Now()
			var wg sync.WaitGroup
			wg.Add(conns)
			for _, e := range cs {
				go func(e *echoConn) {
					e.roundTrips(name, per)
					wg.Done()
				}(e)
			}
			wg.Wait()
			ts = append(ts, time.Since(t0))
		}

		for _, e := range cs {
			e.c.Close()
		}
		ln.Close()
		<-acceptDone
		swg.Wait()
		expected := n * echoMsgSize * (1 + echoRounds*per)
		if accepted != n || served != n || echoed != expected {
			die(name, "%d connections accepted, %d saw their end, %d "+
				"bytes echoed; expected %d connections and %d bytes",
				accepted, served, echoed, n, expected)
		}
		total := float64(n * per)
		med := median(ts, total)
		fmt.Printf("bench=%s threads=%d value=%.2f first=%.2f rate=%.0f "+
			"unit=ns/roundtrip\n", name, threads, med,
			float64(ts[0].Nanoseconds())/total, 1e9/med)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: peers-go yield|spawn_join|pingpong|"+
		"mailbox|ring|skynet|primes|parked|mutex|bounded1|bounded64|"+
		"select|echoN [-t threads >= 1]")
	os.Exit(2)
}

func main() {
	benches := map[string]func(int){
		"yield":      benchYield,
		"spawn_join": benchSpawnJoin,
		"pingpong":   benchPingpong,
		"mailbox":    benchMailbox,
		"ring":       benchRing,
		"skynet":     benchSkynet,
		"primes":     benchPrimes,
		"parked":     benchParked,
		"mutex":      benchMutex,
		"bounded1":   benchBounded(1),
		"bounded64":  benchBounded(64),
		"select":     benchSelect,
	}
	name, threads := "", 1
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "-t" && i+1 < len(args):
			t, err := strconv.Atoi(args[i+1])
			if err != nil || t < 1 {
				usage()
			}
			threads = t
			i++
		case name == "" && benches[args[i]] != nil:
			name = args[i]
		case name == "" && strings.HasPrefix(args[i], "echo"):
			c, err := strconv.Atoi(args[i][len("echo"):])
			if err != nil || c < 1 || args[i] != fmt.Sprintf("echo%d", c) {
				usage()
			}
			name = args[i]
			benches[name] = benchEcho(c)
		default:
			usage()
		}
	}
	if name == "" {
		usage()
	}
	if threads != 1 && (name == "yield" || name == "spawn_join" ||
		name == "parked") {
		fmt.Fprintf(os.Stderr, "peers-go: %s runs on one thread only\n",
			name)
		os.Exit(2)
	}
	runtime.GOMAXPROCS(threads)
	benches[name](runtime.GOMAXPROCS(0))
}
