/*
 * Internal interface of the reimplemented iommufd subsystem: the context,
 * the object header and table, the per-ioctl command state.  Names follow
 * drivers/iommu/iommufd/iommufd_private.h so the two can be read side by
 * side.
 *
 * Lock order, outermost first (the kernel's, mirrored with pthreads):
 *   access->ioas_lock → ioas->mutex → iopt->domains_rwsem →
 *   iopt->iova_rwsem → pages->mutex → iopt->access_list_lock →
 *   ictx->obj_lock (innermost; never held while calling out).
 *   ictx->ioas_creation_lock (write) → every IOAS iova_rwsem in ID order.
 *   access->ioas_lock and ioas->mutex are never nested.
 */
#ifndef ISIM_IOMMUFD_PRIVATE_H
#define ISIM_IOMMUFD_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "iommufd-sim/driver.h"
#include "iommufd-sim/sim.h"
#include "sim/lib/err.h"
#include "sim/lib/idr.h"
#include "sim/lib/trace.h"
#include "sim/machine.h"
#include "sim/iommufd/io_pagetable.h"

enum iommufd_object_type {
	IOMMUFD_OBJ_NONE,
	IOMMUFD_OBJ_ANY = IOMMUFD_OBJ_NONE,
	IOMMUFD_OBJ_DEVICE,
	IOMMUFD_OBJ_HWPT_PAGING,
	IOMMUFD_OBJ_HWPT_NESTED,
	IOMMUFD_OBJ_IOAS,
	IOMMUFD_OBJ_ACCESS,
	IOMMUFD_OBJ_FAULT,
	IOMMUFD_OBJ_VIOMMU,
	IOMMUFD_OBJ_VDEVICE,
	IOMMUFD_OBJ_VEVENTQ,
	IOMMUFD_OBJ_HW_QUEUE,
	IOMMUFD_OBJ_SELFTEST,
	IOMMUFD_OBJ_MAX,
};

struct iommufd_ctx {
	struct isim_machine *m;
	pthread_mutex_t obj_lock;	/* objects, refcount transitions */
	pthread_cond_t destroy_wait;	/* signalled under obj_lock */
	struct isim_idr objects;
	pthread_rwlock_t ioas_creation_lock;
	uint8_t account_mode;
	struct iommufd_ioas *vfio_ioas;
	struct iommufd_ctx *next_in_machine;
	/* File descriptors the context handed out (vEVENTQ, FAULT). */
	pthread_mutex_t anon_fds_lock;
	struct iommufd_anon_fd *anon_fds;
	/* Memory userspace may mmap through this file (main.c mt_mmap). */
	pthread_mutex_t mmap_lock;
	struct iommufd_mmap *mmaps;
};

/* The file behind an iommufd: what isim_open() hands out. */
struct isim_fd {
	struct iommufd_ctx ictx;
};

/* Per-ioctl state, as the kernel's struct iommufd_ucmd. */
struct iommufd_ucmd {
	struct iommufd_ctx *ictx;
	void *ubuffer;
	uint32_t user_size;
	void *cmd;
	struct iommufd_object *new_obj;
};

/*
 * Visitor over the references an object holds: +1 `users` on @target, and
 * +1 `wait_cnt` too when @wait is set.  An object reports holds that an
 * outside party keeps on it (a driver, an open fd, an mmap) as refs on
 * itself, so that at quiescence users == 1 + the refs reported.
 */
typedef void (*iommufd_ref_fn)(struct iommufd_object *target, bool wait,
			       void *arg);

struct iommufd_object_ops {
	const char *name;
	/* DEVICE only: make a waiting destroy's stragglers let go. */
	void (*pre_destroy)(struct iommufd_object *obj);
	void (*destroy)(struct iommufd_object *obj);
	/* Undo a half-built object; types with one must not use ucmd alloc. */
	void (*abort)(struct iommufd_object *obj);
	/* Call @fn once for every object this one holds a `users` ref on. */
	void (*for_each_ref)(struct iommufd_object *obj,
			     iommufd_ref_fn fn, void *arg);
	/* Type-specific invariants, at quiescence; returns the error count. */
	int (*check)(struct iommufd_object *obj, char *buf, size_t len,
		     size_t *used);
};

extern const struct iommufd_object_ops iommufd_object_ops[IOMMUFD_OBJ_MAX];

#define IOMMUFD_ID_MIN 1u
#define IOMMUFD_ID_MAX 0x7fffffffu

enum {
	REMOVE_WAIT = 1 << 0,
	REMOVE_OBJ_TOMBSTONE = 1 << 1,
};

/* Two-phase creation (main.c). */
struct iommufd_object *_iommufd_object_alloc(struct iommufd_ctx *ictx,
					     size_t size,
					     enum iommufd_object_type type);
struct iommufd_object *_iommufd_object_alloc_ucmd(struct iommufd_ucmd *ucmd,
						  size_t size,
						  enum iommufd_object_type type);
void iommufd_object_finalize(struct iommufd_ctx *ictx,
			     struct iommufd_object *obj);
void iommufd_object_abort(struct iommufd_ctx *ictx, struct iommufd_object *obj);
void iommufd_object_abort_and_destroy(struct iommufd_ctx *ictx,
				      struct iommufd_object *obj);

/* False for a reserved (being created, or tombstone) table slot. */
bool iommufd_object_published(const struct iommufd_object *obj);

/* Lookups and references (main.c). */
bool iommufd_lock_obj(struct iommufd_object *obj);
struct iommufd_object *iommufd_get_object(struct iommufd_ctx *ictx, uint32_t id,
					  enum iommufd_object_type type);
void iommufd_put_object(struct iommufd_ctx *ictx, struct iommufd_object *obj);
int iommufd_object_remove(struct iommufd_ctx *ictx,
			  struct iommufd_object *to_destroy, uint32_t id,
			  unsigned flags);
void iommufd_object_destroy_user(struct iommufd_ctx *ictx,
				 struct iommufd_object *obj);
void iommufd_object_tombstone_user(struct iommufd_ctx *ictx,
				   struct iommufd_object *obj);
void iommufd_object_put_and_try_destroy(struct iommufd_ctx *ictx,
					struct iommufd_object *obj);

static inline void refcount_inc(atomic_int *r)
{
	atomic_fetch_add_explicit(r, 1, memory_order_relaxed);
}

/* Returns true when the count dropped to zero. */
static inline bool refcount_dec_and_test(atomic_int *r)
{
	return atomic_fetch_sub_explicit(r, 1, memory_order_acq_rel) == 1;
}

static inline void refcount_dec(atomic_int *r)
{
	atomic_fetch_sub_explicit(r, 1, memory_order_acq_rel);
}

static inline int refcount_read(atomic_int *r)
{
	return atomic_load_explicit(r, memory_order_acquire);
}

struct iommufd_ioas {
	struct iommufd_object obj;
	struct io_pagetable iopt;
	pthread_mutex_t mutex;	/* hwpt_list and the auto domain */
	struct iommufd_hwpt_paging *hwpt_list;
};

static inline struct iommufd_ioas *ioas_of_iopt(struct io_pagetable *iopt)
{
	return isim_container_of(iopt, struct iommufd_ioas, iopt);
}

struct iommufd_ioas *iommufd_get_ioas(struct iommufd_ctx *ictx, uint32_t id);

/* Kernel-side users of an IOAS (mdev drivers, HW queues): access.c. */
struct iommufd_access_ops {
	bool needs_pin_pages;
	/* Called when userspace unmaps a range the driver may have pinned. */
	void (*unmap)(void *data, uint64_t iova, uint64_t length);
};

struct iommufd_access {
	struct iommufd_object obj;
	struct iommufd_ctx *ictx;	/* NULL: an internal access */
	struct iommufd_ioas *ioas;	/* for new pins and rw */
	struct iommufd_ioas *ioas_unpin;	/* the pins' IOAS */
	pthread_mutex_t ioas_lock;
	const struct iommufd_access_ops *ops;
	void *data;
	uint64_t iova_alignment;
	uint32_t iopt_access_list_id;
};

struct iommufd_access *iommufd_access_create(struct iommufd_ctx *ictx,
					     const struct iommufd_access_ops *ops,
					     void *data, uint32_t *id);
struct iommufd_access *iommufd_access_create_internal(struct iommufd_ctx *ictx);
void iommufd_access_destroy(struct iommufd_access *access);
void iommufd_access_destroy_internal(struct iommufd_ctx *ictx,
				     struct iommufd_access *access);
int iommufd_access_attach(struct iommufd_access *access, uint32_t ioas_id);
int iommufd_access_attach_internal(struct iommufd_access *access,
				   struct iommufd_ioas *ioas);
int iommufd_access_replace(struct iommufd_access *access, uint32_t ioas_id);
void iommufd_access_detach(struct iommufd_access *access);
void iommufd_access_detach_internal(struct iommufd_access *access);
/* PFNs instead of struct page pointers: out_pfns gets one per page. */
int iommufd_access_pin_pages(struct iommufd_access *access, uint64_t iova,
			     uint64_t length, uint64_t *out_pfns,
			     unsigned flags);
void iommufd_access_unpin_pages(struct iommufd_access *access, uint64_t iova,
				uint64_t length);
int iommufd_access_rw(struct iommufd_access *access, uint64_t iova,
		      void *data, uint64_t length, unsigned flags);
void iommufd_access_notify_unmap(struct io_pagetable *iopt, uint64_t iova,
				 uint64_t length);
void iommufd_access_destroy_object(struct iommufd_object *obj);
void iommufd_access_for_each_ref(struct iommufd_object *obj,
				 iommufd_ref_fn fn, void *arg);

struct isim_iommu {
	struct isim_machine *m;
	const struct isim_iommu_ops *ops;
	char name[32];
	void *priv;
	struct isim_iommu *next;
};

/* Device flags of the selftest's MOCK_DOMAIN_FLAGS. */
enum {
	ISIM_DEV_NO_DIRTY = 1 << 0,
	ISIM_DEV_HUGE_IOVA = 1 << 1,
	ISIM_DEV_PASID = 1 << 2,
};

struct isim_device {
	struct isim_machine *m;
	struct isim_iommu *iommu;
	char name[32];
	uint32_t flags;
	uint32_t cache[4];	/* the mock's per-device cache */
	pthread_mutex_t group_lock;	/* attach, vDEVICE, unbind */
	struct iommufd_device *idev;	/* bound to a context */
	struct iommufd_viommu *viommu;	/* recorded by nested attach */
	uint64_t virt_id;
	void *drvdata;
	struct isim_device *next;
};

struct iommufd_hw_pagetable {
	struct iommufd_object obj;
	struct isim_iommu *iommu;
	struct iommufd_domain *domain;	/* paging only */
};

struct iommufd_hwpt_paging {
	struct iommufd_hw_pagetable common;
	struct iommufd_ioas *ioas;
	bool auto_domain;
	bool nest_parent;
	bool dirty_tracking;
	bool on_ioas;	/* domain added to the io_pagetable */
	struct iommufd_hwpt_paging *next_in_ioas;
};

struct iommufd_hwpt_nested {
	struct iommufd_hw_pagetable common;
	struct iommufd_hwpt_paging *parent;	/* or NULL on a vIOMMU */
	struct iommufd_viommu *viommu;
	void *nested;	/* the driver's nested domain */
};

struct iommufd_device {
	struct iommufd_object obj;
	struct iommufd_ctx *ictx;
	struct isim_device *dev;
	struct iommufd_hw_pagetable *hwpt;	/* attached, RID */
	struct iommufd_vdevice *vdev;
	bool destroying;
};

struct iommufd_hw_pagetable *iommufd_get_hwpt(struct iommufd_ctx *ictx,
					      uint32_t id);
struct iommufd_hwpt_paging *
iommufd_hwpt_paging_alloc(struct iommufd_ctx *ictx, struct iommufd_ioas *ioas,
			  struct iommufd_device *idev, uint32_t flags,
			  bool auto_domain);
void iommufd_hwpt_paging_destroy(struct iommufd_object *obj);
void iommufd_hwpt_paging_abort(struct iommufd_object *obj);
void iommufd_hwpt_paging_for_each_ref(struct iommufd_object *obj,
				      iommufd_ref_fn fn, void *arg);
void iommufd_hwpt_nested_destroy(struct iommufd_object *obj);
void iommufd_hwpt_nested_for_each_ref(struct iommufd_object *obj,
				      iommufd_ref_fn fn, void *arg);
struct iommufd_domain *iommufd_hwpt_s2_domain(struct iommufd_hw_pagetable *h);

struct iommufd_device *iommufd_get_device(struct iommufd_ctx *ictx,
					  uint32_t id);
int iommufd_device_bind(struct iommufd_ctx *ictx, struct isim_device *dev,
			uint32_t *id, struct iommufd_device **out);
void iommufd_device_unbind(struct iommufd_device *idev);
int iommufd_device_attach(struct iommufd_device *idev, uint32_t *pt_id);
int iommufd_device_replace(struct iommufd_device *idev, uint32_t *pt_id);
void iommufd_device_detach(struct iommufd_device *idev);
void iommufd_device_destroy(struct iommufd_object *obj);
void iommufd_device_pre_destroy(struct iommufd_object *obj);
void iommufd_device_for_each_ref(struct iommufd_object *obj,
				 iommufd_ref_fn fn, void *arg);

struct iommufd_viommu *iommufd_get_viommu(struct iommufd_ctx *ictx,
					  uint32_t id);
void iommufd_viommu_destroy(struct iommufd_object *obj);
void iommufd_viommu_for_each_ref(struct iommufd_object *obj,
				 iommufd_ref_fn fn, void *arg);
void iommufd_vdevice_destroy(struct iommufd_object *obj);
void iommufd_vdevice_abort(struct iommufd_object *obj);
void iommufd_vdevice_for_each_ref(struct iommufd_object *obj,
				  iommufd_ref_fn fn, void *arg);
void iommufd_hw_queue_destroy(struct iommufd_object *obj);
void iommufd_hw_queue_for_each_ref(struct iommufd_object *obj,
				   iommufd_ref_fn fn, void *arg);

/* The driver registry and instances (driver.c). */
const struct isim_iommu_ops *isim_find_iommu_driver(const char *name);
void isim_machine_release_devices(struct isim_machine *m);
void isim_device_remove(struct isim_device *dev);

/* The dispatcher's reply: min(user size, @cmd_len) bytes of ucmd->cmd. */
int iommufd_ucmd_respond(struct iommufd_ucmd *ucmd, size_t cmd_len);

/* ioctl handlers (one per command, in the module of its object). */
int iommufd_destroy(struct iommufd_ucmd *ucmd);
int iommufd_ioas_alloc_ioctl(struct iommufd_ucmd *ucmd);
int iommufd_ioas_map(struct iommufd_ucmd *ucmd);
int iommufd_ioas_map_file(struct iommufd_ucmd *ucmd);
int iommufd_ioas_unmap(struct iommufd_ucmd *ucmd);
int iommufd_ioas_copy(struct iommufd_ucmd *ucmd);
int iommufd_ioas_iova_ranges(struct iommufd_ucmd *ucmd);
int iommufd_ioas_allow_iovas(struct iommufd_ucmd *ucmd);
int iommufd_ioas_change_process(struct iommufd_ucmd *ucmd);
int iommufd_option(struct iommufd_ucmd *ucmd);
int iommufd_hwpt_alloc(struct iommufd_ucmd *ucmd);
int iommufd_hwpt_invalidate(struct iommufd_ucmd *ucmd);
int iommufd_get_hw_info(struct iommufd_ucmd *ucmd);
int iommufd_viommu_alloc_ioctl(struct iommufd_ucmd *ucmd);
int iommufd_vdevice_alloc_ioctl(struct iommufd_ucmd *ucmd);
int iommufd_hw_queue_alloc_ioctl(struct iommufd_ucmd *ucmd);
int iommufd_test(struct iommufd_ucmd *ucmd);
/* Dirty tracking (dirty.c); iommufd_test_dirty() is IOMMU_TEST_OP_DIRTY. */
int iommufd_hwpt_set_dirty_tracking(struct iommufd_ucmd *ucmd);
int iommufd_hwpt_get_dirty_bitmap(struct iommufd_ucmd *ucmd);
struct iommu_test_cmd;
int iommufd_test_dirty(struct iommufd_ucmd *ucmd, struct iommu_test_cmd *cmd);

/* Object types' ops. */
void iommufd_ioas_destroy(struct iommufd_object *obj);
int iommufd_ioas_check(struct iommufd_object *obj, char *buf, size_t len,
		       size_t *used);
void iommufd_selftest_destroy(struct iommufd_object *obj);

/* Append one problem to an invariant report; returns 1 (one error). */
int iommufd_report(char *buf, size_t len, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Invariants of one context's object table (main.c). */
int iommufd_ctx_check(struct iommufd_ctx *ictx, char *report, size_t len,
		      size_t *used);

static inline const char *iommufd_obj_name(enum iommufd_object_type type)
{
	return type < IOMMUFD_OBJ_MAX && iommufd_object_ops[type].name ?
		       iommufd_object_ops[type].name : "?";
}

/*
 * The VFIO type1 container ABI on an iommufd (vfio_compat.c).  The compat
 * IOAS is ictx->vfio_ioas; iommufd_vfio_ioctl() takes the container ioctls
 * (integer or pointer @arg, as the kernel's) and answers -ENOTTY to any
 * other number.  iopt_cut_iova() splits the areas under each of @iovas so
 * that it becomes the last IOVA of an area (§4.13, type1 v1 unmap only).
 */
int iommufd_vfio_ioas(struct iommufd_ucmd *ucmd);
int iommufd_vfio_ioctl(struct iommufd_ctx *ictx, unsigned int cmd,
		       unsigned long arg);
int iommufd_vfio_compat_ioas_create(struct iommufd_ctx *ictx);
int iommufd_vfio_compat_ioas_get_id(struct iommufd_ctx *ictx,
				    uint32_t *out_ioas_id);
int iopt_cut_iova(struct io_pagetable *iopt, uint64_t *iovas,
		  size_t num_iovas);

/*
 * FAULT objects and I/O page faults (fault.c).  A HWPT allocated with
 * IOMMU_HWPT_FAULT_ID_VALID holds a `users` ref on its FAULT (the kernel's
 * hwpt->fault): iommufd_hwpt_set_fault() takes it while the HWPT is built,
 * iommufd_hwpt_put_fault() drops it in the HWPT's destroy.  A page request
 * goes to the FAULT of the HWPT the device is attached to (-ENODEV when
 * there is none); iommufd_fault_auto_response() answers INVALID whatever
 * came through @idev's attachment to @hwpt, for detach and replace.
 * struct iommufd_fault is fault.c's own; its object header comes first.
 */
struct iommufd_fault;
int iommufd_fault_alloc(struct iommufd_ucmd *ucmd);
void iommufd_fault_destroy(struct iommufd_object *obj);
void iommufd_fault_for_each_ref(struct iommufd_object *obj,
				iommufd_ref_fn fn, void *arg);
int iommufd_fault_check(struct iommufd_object *obj, char *buf, size_t len,
			size_t *used);
struct iommufd_fault *iommufd_get_fault(struct iommufd_ctx *ictx, uint32_t id);
int iommufd_hwpt_set_fault(struct iommufd_hw_pagetable *hwpt,
			   struct iommufd_fault *fault);
struct iommufd_fault *
iommufd_hwpt_fault(const struct iommufd_hw_pagetable *hwpt);
void iommufd_hwpt_put_fault(struct iommufd_hw_pagetable *hwpt);
int iommufd_report_device_fault(struct isim_device *dev, uint32_t pasid,
				uint32_t grpid, uint32_t perm, uint64_t addr);
void iommufd_fault_auto_response(struct iommufd_hw_pagetable *hwpt,
				 struct iommufd_device *idev);
int iommufd_test_trigger_iopf(struct iommufd_ucmd *ucmd);

#endif
