/*
 * iommufd-sim public API.
 *
 * A machine is simulated physical memory plus the simulated IOMMUs and the
 * devices behind them.  isim_open() gives an iommufd context on it, driven
 * through isim_ioctl() with the kernel's own ioctl ABI
 * (<linux/iommufd.h> from include/uapi).  Every function returns 0 or a
 * negative errno; the library never prints and never exits.
 */
#ifndef ISIM_SIM_H
#define ISIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct isim_machine;
struct isim_fd;

struct isim_machine_config {
	uint64_t mem_size;	/* simulated physical memory in bytes; 0: 4 GiB */
	uint32_t page_size;	/* 4096, 16384 or 65536; 0: 4096 */
	double frag;		/* pre-fragmentation of free memory, 0.0 - 1.0 */
	uint64_t seed;		/* seeds fragmentation and every model */
	bool threaded;		/* hardware models run on their own threads */
	/* How long a waiting destroy sleeps for stragglers; 0: 60000 ms. */
	unsigned destroy_timeout_ms;
};

/* A NULL config means the defaults above. */
int isim_machine_new(const struct isim_machine_config *cfg,
		     struct isim_machine **out);
void isim_machine_free(struct isim_machine *m);
uint32_t isim_machine_page_size(const struct isim_machine *m);

/* One iommufd context, like open("/dev/iommu"). */
int isim_open(struct isim_machine *m, struct isim_fd **out);
/* Release of the file: tears the context down, leaves first. */
void isim_close(struct isim_fd *fd);
/* The kernel ioctl ABI: @request is an IOMMU_* number, @arg its struct. */
int isim_ioctl(struct isim_fd *fd, unsigned long request, void *arg);
/* The size of our struct for @request and the least size it accepts. */
int isim_ioctl_sizes(unsigned long request, unsigned *size,
		     unsigned *min_size);

/* One row of a context's object table, for tools that show it. */
struct isim_object_info {
	uint32_t id;
	const char *type;	/* "ioas", "hwpt_paging", ...; NULL if reserved */
	int users;
	int wait_cnt;
};
typedef void (*isim_object_fn)(void *arg, const struct isim_object_info *o);
/* Visit every ID in use, ascending; reserved IDs have type NULL. */
void isim_for_each_object(struct isim_fd *fd, isim_object_fn fn, void *arg);

/* Invariant check of everything the machine holds; 0 when all hold. */
int isim_check(struct isim_machine *m, char *report, size_t len);

/* Memory of the simulated process with a chosen backing. */
enum isim_backing {
	ISIM_BACKING_4K,
	ISIM_BACKING_THP,
	ISIM_BACKING_HUGETLB_2M,
	ISIM_BACKING_HUGETLB_1G,
};
int isim_mem_alloc(struct isim_machine *m, size_t len,
		   enum isim_backing backing, void **out);
int isim_mem_free(struct isim_machine *m, void *va);

/* Tracing: one event per trace point, delivered to the sink in order. */
struct isim_trace_event {
	uint64_t seq;		/* 1, 2, ... in emission order */
	uint64_t ns;		/* since the machine was made */
	unsigned long tid;
	const char *point;	/* e.g. "obj.finalize" */
	const char *args;	/* "key=value key=value" */
};
typedef void (*isim_trace_sink_fn)(void *arg,
				   const struct isim_trace_event *ev);
/* Install (or with NULL remove) the machine's trace sink. */
void isim_trace_set_sink(struct isim_machine *m, isim_trace_sink_fn sink,
			 void *arg);

/* Fault injection, per thread: the nth fallible point reached fails. */
void isim_fail_nth_set(unsigned nth);
unsigned isim_fail_nth_get(void);

#ifdef __cplusplus
}
#endif

#endif
