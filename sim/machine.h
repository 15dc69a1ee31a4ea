/*
 * The simulated machine: its configuration, memory, IOMMU instances and
 * trace.  Everything below the iommufd layer hangs off it; an iommufd
 * context (struct iommufd_ctx) belongs to exactly one machine.
 */
#ifndef ISIM_MACHINE_H
#define ISIM_MACHINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "iommufd-sim/sim.h"
#include "sim/lib/trace.h"

struct iommufd_ctx;

struct isim_machine {
	struct isim_machine_config cfg;
	struct isim_tracer trace;
	pthread_mutex_t lock;	/* the lists below */
	struct iommufd_ctx *contexts;	/* open iommufd contexts */
	atomic_uint warnings;	/* kernel WARN()s hit; isim_check fails on any */
};

/*
 * The kernel's WARN_ON: the condition is a bug the kernel would only log.
 * Here it is counted and traced so tests and isim_check can fail on it.
 */
void isim_warn(struct isim_machine *m, const char *what, const char *file,
	       int line);
#define ISIM_WARN_ON(m, cond)                                              \
	((cond) ? (isim_warn((m), #cond, __FILE__, __LINE__), true) : false)

#endif
