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
#include <stdint.h>

#include "iommufd-sim/sim.h"
#include "sim/lib/trace.h"

struct iommufd_ctx;
struct isim_phys;
struct isim_vm;
struct isim_iommu;
struct isim_device;

/*
 * Pinned-page charges of the simulated process (spec/core.md §5.11): the
 * user's locked_vm (USER mode), the mm's locked_vm (MM mode) and pinned_vm
 * (all modes), in pages.
 */
struct isim_account {
	pthread_mutex_t lock;
	uint64_t user_locked_vm;
	uint64_t mm_locked_vm;
	uint64_t pinned_vm;
	uint64_t limit_pages;	/* 0: unlimited */
};

/* Charge (@delta > 0) or uncharge pages; -ENOMEM over the limit. */
int isim_account_update(struct isim_account *acct, int mode, int64_t delta);

struct isim_machine {
	struct isim_machine_config cfg;
	struct isim_tracer trace;
	struct isim_phys *phys;	/* simulated physical memory (sim/mm/phys.h) */
	struct isim_vm *vm;	/* the program's address space (sim/mm/vm.h) */
	uint64_t firmware_pfn;	/* kept from boot: nothing DMAs at PA 0 */
	pthread_mutex_t lock;	/* the lists below */
	struct iommufd_ctx *contexts;	/* open iommufd contexts */
	struct isim_iommu *iommus;	/* simulated IOMMU instances */
	struct isim_device *devices;	/* devices behind them */
	struct isim_iommu *default_iommu;	/* the always-present mock */
	struct isim_account acct;
	pthread_mutex_t hw_lock;	/* hw_models */
	struct isim_hw_model *hw_models;
	atomic_uint warnings;	/* kernel WARN()s hit; isim_check fails on any */
};

/*
 * The kernel's WARN_ON: the condition is a bug the kernel would only log.
 * Here it is counted and traced so tests and isim_check can fail on it.
 */
void isim_warn(struct isim_machine *m, const char *what, const char *file,
	       int line);
static inline bool isim_warn_on(struct isim_machine *m, bool cond,
				const char *what, const char *file, int line)
{
	if (cond)
		isim_warn(m, what, file, line);
	return cond;
}
#define ISIM_WARN_ON(m, cond)                                              \
	isim_warn_on((m), (cond), #cond, __FILE__, __LINE__)

#endif
