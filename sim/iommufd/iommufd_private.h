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

#include "iommufd-sim/sim.h"
#include "sim/lib/err.h"
#include "sim/lib/idr.h"
#include "sim/lib/trace.h"
#include "sim/machine.h"

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

/* Every object starts with this header. */
struct iommufd_object {
	atomic_int wait_cnt;	/* short-term refs a waiting destroy sleeps for */
	atomic_int users;	/* all refs; destroy needs exactly the table's */
	enum iommufd_object_type type;
	uint32_t id;
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

/* The dispatcher's reply: min(user size, @cmd_len) bytes of ucmd->cmd. */
int iommufd_ucmd_respond(struct iommufd_ucmd *ucmd, size_t cmd_len);

/* ioctl handlers (one per command, in the module of its object). */
int iommufd_destroy(struct iommufd_ucmd *ucmd);
int iommufd_ioas_alloc_ioctl(struct iommufd_ucmd *ucmd);

/* Object types' ops. */
void iommufd_ioas_destroy(struct iommufd_object *obj);

/* Invariants of one context's object table (main.c). */
int iommufd_ctx_check(struct iommufd_ctx *ictx, char *report, size_t len,
		      size_t *used);

static inline const char *iommufd_obj_name(enum iommufd_object_type type)
{
	return type < IOMMUFD_OBJ_MAX && iommufd_object_ops[type].name ?
		       iommufd_object_ops[type].name : "?";
}

#endif
