/*
 * Named trace points.  Each event is one point name plus a line of
 * `key=value` pairs, numbered in emission order and handed to a sink the
 * program installed.  When no sink is installed a trace point costs one
 * relaxed atomic load and a branch; the arguments are not even formatted.
 */
#ifndef ISIM_LIB_TRACE_H
#define ISIM_LIB_TRACE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "iommufd-sim/sim.h"

struct isim_tracer {
	atomic_bool enabled;
	pthread_mutex_t lock; /* serialises sink calls and numbering */
	isim_trace_sink_fn sink;
	void *arg;
	uint64_t seq;
	struct timespec t0;
};

void isim_tracer_init(struct isim_tracer *tr);
void isim_tracer_fini(struct isim_tracer *tr);
void isim_tracer_set_sink(struct isim_tracer *tr, isim_trace_sink_fn sink,
			  void *arg);
void isim_trace_emit(struct isim_tracer *tr, const char *point,
		     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define isim_trace(tr, point, ...)                                        \
	do {                                                               \
		if (atomic_load_explicit(&(tr)->enabled,                   \
					 memory_order_relaxed))            \
			isim_trace_emit((tr), (point), __VA_ARGS__);       \
	} while (0)

#endif
