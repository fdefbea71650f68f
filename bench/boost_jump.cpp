// boost_jump.cpp - yardstick for bench/yield: a bare Boost.Context switch,
// no scheduler.  Usage: boost_jump [total-jumps]   (default 10,000,000)
#include <boost/context/detail/fcontext.hpp>
#include <cstdio>
#include <cstdlib>
#include <ctime>
namespace ctx = boost::context::detail;

static void bounce(ctx::transfer_t t) { for (;;) t = ctx::jump_fcontext(t.fctx, nullptr); }
static double now_ns() { timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec * 1e9 + ts.tv_nsec; }

int main(int argc, char **argv)
{
	long trips = (argc > 1 ? atol(argv[1]) : 10000000) / 2; // two jumps each
	const size_t size = 64 * 1024;
	char *stack = static_cast<char *>(malloc(size));
	if (trips < 1 || !stack)
		return 2;
	ctx::fcontext_t c = ctx::make_fcontext(stack + size, size, bounce); // top of stack
	c = ctx::jump_fcontext(c, nullptr).fctx; // first entry, untimed
	double t0 = now_ns();
	for (long i = 0; i < trips; i++)
		c = ctx::jump_fcontext(c, nullptr).fctx;
	double t1 = now_ns();
	printf("bench=boost_jump threads=1 value=%.2f unit=ns/switch\n", (t1 - t0) / (2.0 * trips));
	free(stack); // bounce stays suspended for good; nothing to unwind
}
