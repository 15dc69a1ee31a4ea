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
#include <sys/types.h>	/* ssize_t */

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
	/*
	 * The simulated process's credentials and limits.  Without
	 * CAP_IPC_LOCK pinned pages are charged against memlock_limit
	 * (bytes, 0: unlimited); CAP_SYS_RESOURCE allows IOMMU_OPTION
	 * RLIMIT_MODE.
	 */
	bool cap_ipc_lock;
	bool no_cap_sys_resource;
	uint64_t memlock_limit;
	/* Transparent huge pages not configured: auto IOVA alignment caps
	 * at PAGE_SIZE instead of the PMD size. */
	bool no_thp;
	/*
	 * Algorithm switches for prototyping.  hw_queue_pin_v8: the HW queue
	 * pin as first posted (v8 of the series, rounding bug included)
	 * instead of the merged code.  contig_algo: how pinned pages are
	 * checked for physical contiguity (0 the kernel's per-page loop,
	 * 1 block-wise branch-free, 2 run-length).  mock_index_quirk: the
	 * selftest mock never records a HW queue's index, as upstream.
	 */
	bool hw_queue_pin_v8;
	unsigned contig_algo;
	bool mock_index_quirk;
};

/* A NULL config means the defaults above. */
int isim_machine_new(const struct isim_machine_config *cfg,
		     struct isim_machine **out);
void isim_machine_free(struct isim_machine *m);
uint32_t isim_machine_page_size(const struct isim_machine *m);

/*
 * Simulated IOMMU instances and the devices behind them.  @driver is
 * "mock" (the kernel selftest's mock IOMMU), "mock-iova" (a mock whose
 * vIOMMU offers only IOVA-addressed HW queues), "tegra241-cmdqv" or
 * "amd-viommu"; @opts is "key=value,key=value" or NULL.  Every machine
 * starts with one "mock" instance, which a NULL @iommu names.
 */
struct isim_iommu;
struct isim_device;
int isim_iommu_add(struct isim_machine *m, const char *driver,
		   const char *opts, struct isim_iommu **out);
int isim_device_add(struct isim_machine *m, struct isim_iommu *iommu,
		    const char *name, struct isim_device **out);
struct isim_device *isim_device_find(struct isim_machine *m, const char *name);

/* One iommufd context, like open("/dev/iommu"). */
int isim_open(struct isim_machine *m, struct isim_fd **out);
/* Release of the file: tears the context down, leaves first. */
void isim_close(struct isim_fd *fd);
/* The kernel ioctl ABI: @request is an IOMMU_* number, @arg its struct. */
int isim_ioctl(struct isim_fd *fd, unsigned long request, void *arg);
/* The size of our struct for @request and the least size it accepts. */
int isim_ioctl_sizes(unsigned long request, unsigned *size,
		     unsigned *min_size);

/* VFIO-cdev style device ownership and attachment (to an IOAS, which
 * gets an automatic paging HWPT, or to a HWPT): *pt_id returns the HWPT. */
int isim_device_bind(struct isim_fd *fd, struct isim_device *dev,
		     uint32_t *out_dev_id);
int isim_device_unbind(struct isim_fd *fd, uint32_t dev_id);
int isim_device_attach(struct isim_fd *fd, uint32_t dev_id, uint32_t *pt_id);
int isim_device_replace(struct isim_fd *fd, uint32_t dev_id, uint32_t *pt_id);
int isim_device_detach(struct isim_fd *fd, uint32_t dev_id);

/*
 * DMA by a device through the page table it is attached to: ISIM_DMA_WRITE
 * moves @buf into memory, else memory into @buf.  -EFAULT when an IOVA has
 * no translation (the IOMMU driver is told, as hardware would report it)
 * or the frame behind it is not allocated; -ENODEV when not attached.
 */
#define ISIM_DMA_WRITE 1u
int isim_dma(struct isim_device *dev, uint64_t iova, void *buf, size_t len,
	     unsigned flags);

/*
 * A PCIe page request (PRI) from @dev for the page at @addr, one request
 * of page request group @group (0..511); with ISIM_PRQ_PASID it is for
 * @pasid's address space (20 bits).  The device's IOMMU driver logs it
 * where its hardware would (AMD: the PPR log of the vIOMMU the device is
 * nested behind); the response comes back through that IOMMU's command
 * path.  0 when logged; -EAGAIN when the IOMMU refused it (page requests
 * off: an INVALID_PPR_REQUEST event instead); -ENOSPC when the log was
 * full; -EFAULT when the log's memory has no translation; -ENODEV when the
 * device is not attached where requests can go; -EOPNOTSUPP when its
 * IOMMU takes none; -EINVAL for bad arguments.
 */
#define ISIM_PRQ_READ	(1u << 0)
#define ISIM_PRQ_WRITE	(1u << 1)
#define ISIM_PRQ_EXEC	(1u << 2)
#define ISIM_PRQ_PRIV	(1u << 3)	/* privileged (supervisor) access */
#define ISIM_PRQ_LAST	(1u << 4)	/* last request of its group */
#define ISIM_PRQ_PASID	(1u << 5)	/* @pasid is valid */
int isim_device_page_request(struct isim_device *dev, uint32_t pasid,
			     uint64_t addr, unsigned flags, uint16_t group);

/* Step every hardware model until idle or @budget units of work are done;
 * returns the work done.  On a threaded machine the models run by
 * themselves and this returns 0. */
unsigned isim_hw_run(struct isim_machine *m, unsigned budget);

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

/*
 * One reference edge of a context's object graph: object @from holds a
 * `users` reference on object @to (and a `wait_cnt` one when @wait).
 * @from == @to is a hold an outside party keeps (a driver, an open fd);
 * @from == 0 is a hold of the context itself (a live mmap).
 */
struct isim_ref_info {
	uint32_t from;
	uint32_t to;
	bool wait;
};
typedef void (*isim_ref_fn)(void *arg, const struct isim_ref_info *r);
/* Visit every edge; -ENOMEM if some could not be gathered. */
int isim_for_each_ref(struct isim_fd *fd, isim_ref_fn fn, void *arg);

/*
 * The fds an iommufd hands out for its event queues (IOMMU_VEVENTQ_ALLOC's
 * out_veventq_fd) are real eventfds, so poll() on them works: POLLIN
 * exactly while the queue has something to read.  Read, write and close
 * them only through these calls (0 or bytes, or -errno; -EBADF for an fd
 * this context did not hand out).  isim_read never blocks: 0 means
 * nothing to read, or the next record does not fit in @count.
 */
ssize_t isim_read(struct isim_fd *fd, int efd, void *buf, size_t count);
ssize_t isim_write(struct isim_fd *fd, int efd, const void *buf,
		   size_t count);
int isim_fd_close(struct isim_fd *fd, int efd);

/*
 * mmap(2) of the iommufd: @offset and @len name exactly one region a
 * vIOMMU registered (as reported by its driver, e.g. out_mmap_offset);
 * @prot and @flags are mmap(2)'s (MAP_SHARED required, no PROT_EXEC).
 * *out is the region's memory itself.  A live mapping keeps the vIOMMU
 * (DESTROY is EBUSY) until isim_munmap() with the same address and length.
 */
int isim_mmap(struct isim_fd *fd, uint64_t offset, size_t len, int prot,
	      int flags, void **out);
int isim_munmap(struct isim_fd *fd, void *addr, size_t len);

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
