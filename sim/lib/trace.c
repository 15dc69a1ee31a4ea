/*
 * Trace event formatting and delivery (see trace.h).  Events are numbered
 * under the tracer lock so that the sequence is a total order even when
 * several threads emit at once.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sim/lib/trace.h"

void isim_tracer_init(struct isim_tracer *tr)
{
	atomic_init(&tr->enabled, false);
	pthread_mutex_init(&tr->lock, NULL);
	tr->sink = NULL;
	tr->arg = NULL;
	tr->seq = 0;
	clock_gettime(CLOCK_MONOTONIC, &tr->t0);
}

void isim_tracer_fini(struct isim_tracer *tr)
{
	pthread_mutex_destroy(&tr->lock);
}

void isim_tracer_set_sink(struct isim_tracer *tr, isim_trace_sink_fn sink,
			  void *arg)
{
	pthread_mutex_lock(&tr->lock);
	tr->sink = sink;
	tr->arg = arg;
	atomic_store_explicit(&tr->enabled, sink != NULL, memory_order_relaxed);
	pthread_mutex_unlock(&tr->lock);
}

void isim_trace_emit(struct isim_tracer *tr, const char *point,
		     const char *fmt, ...)
{
	struct isim_trace_event ev = { .point = point };
	struct timespec now;
	char args[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_MONOTONIC, &now);
	ev.ns = (uint64_t)(now.tv_sec - tr->t0.tv_sec) * 1000000000ull +
		(uint64_t)now.tv_nsec - (uint64_t)tr->t0.tv_nsec;
	ev.tid = (unsigned long)syscall(SYS_gettid);
	ev.args = args;

	pthread_mutex_lock(&tr->lock);
	if (tr->sink) {
		ev.seq = ++tr->seq;
		tr->sink(tr->arg, &ev);
	}
	pthread_mutex_unlock(&tr->lock);
}
