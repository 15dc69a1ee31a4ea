/*
 * The iommufd context and its object table: two-phase object creation,
 * lookups with short-term references, the destroy rules of
 * iommufd_object_remove(), and the close-time teardown that destroys
 * leaves first.  Mirrors drivers/iommu/iommufd/main.c (spec/core.md §1).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <uthash.h>

#include <linux/iommufd.h>

#include "sim/iommufd/eventq.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/lib/fault.h"
#include "sim/mm/phys.h"

const struct iommufd_object_ops iommufd_object_ops[IOMMUFD_OBJ_MAX] = {
	[IOMMUFD_OBJ_IOAS] = {
		.name = "ioas",
		.destroy = iommufd_ioas_destroy,
		.check = iommufd_ioas_check,
	},
	[IOMMUFD_OBJ_ACCESS] = {
		.name = "access",
		.destroy = iommufd_access_destroy_object,
		.for_each_ref = iommufd_access_for_each_ref,
	},
	[IOMMUFD_OBJ_DEVICE] = {
		.name = "device",
		.pre_destroy = iommufd_device_pre_destroy,
		.destroy = iommufd_device_destroy,
		.for_each_ref = iommufd_device_for_each_ref,
	},
	[IOMMUFD_OBJ_HWPT_PAGING] = {
		.name = "hwpt_paging",
		.destroy = iommufd_hwpt_paging_destroy,
		.abort = iommufd_hwpt_paging_abort,
		.for_each_ref = iommufd_hwpt_paging_for_each_ref,
	},
	[IOMMUFD_OBJ_HWPT_NESTED] = {
		.name = "hwpt_nested",
		.destroy = iommufd_hwpt_nested_destroy,
		.abort = iommufd_hwpt_nested_destroy,
		.for_each_ref = iommufd_hwpt_nested_for_each_ref,
	},
	[IOMMUFD_OBJ_VIOMMU] = {
		.name = "viommu",
		.destroy = iommufd_viommu_destroy,
		.for_each_ref = iommufd_viommu_for_each_ref,
	},
	[IOMMUFD_OBJ_VDEVICE] = {
		.name = "vdevice",
		.destroy = iommufd_vdevice_destroy,
		.abort = iommufd_vdevice_abort,
		.for_each_ref = iommufd_vdevice_for_each_ref,
	},
	[IOMMUFD_OBJ_FAULT] = {
		.name = "fault",
		.destroy = iommufd_fault_destroy,
		.for_each_ref = iommufd_fault_for_each_ref,
		.check = iommufd_fault_check,
	},
	[IOMMUFD_OBJ_VEVENTQ] = {
		.name = "veventq",
		.destroy = iommufd_veventq_destroy,
		.abort = iommufd_veventq_abort,
		.for_each_ref = iommufd_veventq_for_each_ref,
		.check = iommufd_veventq_check,
	},
	[IOMMUFD_OBJ_HW_QUEUE] = {
		.name = "hw_queue",
		.destroy = iommufd_hw_queue_destroy,
		.for_each_ref = iommufd_hw_queue_for_each_ref,
	},
	[IOMMUFD_OBJ_SELFTEST] = {
		.name = "selftest",
		.destroy = iommufd_selftest_destroy,
	},
};

/* The xarray "zero entry": an ID that is taken but invisible to lookups. */
static char reserved_marker;
#define XA_ZERO_ENTRY ((void *)&reserved_marker)

bool iommufd_object_published(const struct iommufd_object *obj)
{
	return obj != XA_ZERO_ENTRY;
}

static inline struct isim_tracer *ctx_trace(struct iommufd_ctx *ictx)
{
	return &ictx->m->trace;
}

struct iommufd_object *_iommufd_object_alloc(struct iommufd_ctx *ictx,
					     size_t size,
					     enum iommufd_object_type type)
{
	struct iommufd_object *obj;
	int rc;

	obj = isim_kzalloc(size);
	if (!obj)
		return ERR_PTR(-ENOMEM);
	obj->type = type;
	atomic_init(&obj->users, 1);
	atomic_init(&obj->wait_cnt, 1);

	pthread_mutex_lock(&ictx->obj_lock);
	rc = isim_idr_alloc(&ictx->objects, XA_ZERO_ENTRY, IOMMUFD_ID_MIN,
			    IOMMUFD_ID_MAX, &obj->id);
	pthread_mutex_unlock(&ictx->obj_lock);
	if (rc) {
		free(obj);
		return ERR_PTR(rc);
	}
	isim_trace(ctx_trace(ictx), "obj.reserve", "type=%s id=%u",
		   iommufd_obj_name(type), obj->id);
	return obj;
}

struct iommufd_object *_iommufd_object_alloc_ucmd(struct iommufd_ucmd *ucmd,
						  size_t size,
						  enum iommufd_object_type type)
{
	struct iommufd_object *obj;

	/* At most one object per ioctl is finalized by the dispatcher. */
	if (ISIM_WARN_ON(ucmd->ictx->m, ucmd->new_obj))
		return ERR_PTR(-EBUSY);
	/* Types with an abort op need it run under a lock the caller holds. */
	if (ISIM_WARN_ON(ucmd->ictx->m, iommufd_object_ops[type].abort))
		return ERR_PTR(-EOPNOTSUPP);
	obj = _iommufd_object_alloc(ucmd->ictx, size, type);
	if (!IS_ERR(obj))
		ucmd->new_obj = obj;
	return obj;
}

void iommufd_object_finalize(struct iommufd_ctx *ictx,
			     struct iommufd_object *obj)
{
	void *old;

	pthread_mutex_lock(&ictx->obj_lock);
	old = isim_idr_replace(&ictx->objects, obj->id, obj);
	pthread_mutex_unlock(&ictx->obj_lock);
	ISIM_WARN_ON(ictx->m, old != XA_ZERO_ENTRY);
	isim_trace(ctx_trace(ictx), "obj.finalize", "type=%s id=%u",
		   iommufd_obj_name(obj->type), obj->id);
}

void iommufd_object_abort(struct iommufd_ctx *ictx, struct iommufd_object *obj)
{
	void *old;

	pthread_mutex_lock(&ictx->obj_lock);
	old = isim_idr_erase(&ictx->objects, obj->id);
	pthread_mutex_unlock(&ictx->obj_lock);
	ISIM_WARN_ON(ictx->m, old != XA_ZERO_ENTRY);
	isim_trace(ctx_trace(ictx), "obj.abort", "type=%s id=%u",
		   iommufd_obj_name(obj->type), obj->id);
	free(obj);
}

void iommufd_object_abort_and_destroy(struct iommufd_ctx *ictx,
				      struct iommufd_object *obj)
{
	const struct iommufd_object_ops *ops = &iommufd_object_ops[obj->type];

	if (ops->abort)
		ops->abort(obj);
	else if (ops->destroy)
		ops->destroy(obj);
	iommufd_object_abort(ictx, obj);
}

static bool refcount_inc_not_zero(atomic_int *r)
{
	int v = atomic_load_explicit(r, memory_order_relaxed);

	do {
		if (!v)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
		r, &v, v + 1, memory_order_acquire, memory_order_relaxed));
	return true;
}

bool iommufd_lock_obj(struct iommufd_object *obj)
{
	if (!refcount_inc_not_zero(&obj->users))
		return false;
	if (!refcount_inc_not_zero(&obj->wait_cnt)) {
		refcount_dec(&obj->users);
		return false;
	}
	return true;
}

struct iommufd_object *iommufd_get_object(struct iommufd_ctx *ictx, uint32_t id,
					  enum iommufd_object_type type)
{
	struct iommufd_object *obj;

	if (isim_should_fail())
		return ERR_PTR(-ENOENT);
	pthread_mutex_lock(&ictx->obj_lock);
	obj = isim_idr_load(&ictx->objects, id);
	if (!obj || obj == XA_ZERO_ENTRY ||
	    (type != IOMMUFD_OBJ_ANY && obj->type != type) ||
	    !iommufd_lock_obj(obj))
		obj = ERR_PTR(-ENOENT);
	pthread_mutex_unlock(&ictx->obj_lock);
	return obj;
}

void iommufd_put_object(struct iommufd_ctx *ictx, struct iommufd_object *obj)
{
	/* users first, so a woken waiter never sees a stale users count. */
	refcount_dec(&obj->users);
	if (refcount_dec_and_test(&obj->wait_cnt)) {
		pthread_mutex_lock(&ictx->obj_lock);
		pthread_cond_broadcast(&ictx->destroy_wait);
		pthread_mutex_unlock(&ictx->obj_lock);
	}
}

/* Sleep until every short-term holder let go: 0, or -EBUSY on timeout. */
static int wait_for_wait_cnt(struct iommufd_ctx *ictx,
			     struct iommufd_object *obj)
{
	unsigned ms = ictx->m->cfg.destroy_timeout_ms;
	struct timespec deadline;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&ictx->obj_lock);
	while (refcount_read(&obj->wait_cnt) && !rc)
		if (pthread_cond_timedwait(&ictx->destroy_wait, &ictx->obj_lock,
					   &deadline) == ETIMEDOUT &&
		    refcount_read(&obj->wait_cnt))
			rc = -EBUSY;
	pthread_mutex_unlock(&ictx->obj_lock);
	return rc;
}

int iommufd_object_remove(struct iommufd_ctx *ictx,
			  struct iommufd_object *to_destroy, uint32_t id,
			  unsigned flags)
{
	struct iommufd_object *obj;
	bool waited = false;
	int expect_one = 1;
	int rc;

	if (flags & REMOVE_WAIT) {
		/* Drop the table's wait_cnt bias and wait for the rest. */
		waited = true;
		if (!refcount_dec_and_test(&to_destroy->wait_cnt)) {
			const struct iommufd_object_ops *ops =
				&iommufd_object_ops[to_destroy->type];

			if (ops->pre_destroy)
				ops->pre_destroy(to_destroy);
			if (wait_for_wait_cnt(ictx, to_destroy)) {
				refcount_inc(&to_destroy->wait_cnt);
				refcount_dec(&to_destroy->users);
				isim_trace(ctx_trace(ictx), "obj.destroy",
					   "id=%u result=EBUSY why=wait_timeout",
					   id);
				return -EBUSY;
			}
		}
	}

	pthread_mutex_lock(&ictx->obj_lock);
	obj = isim_idr_load(&ictx->objects, id);
	if (to_destroy) {
		/* The caller's reference is consumed whatever happens. */
		refcount_dec(&to_destroy->users);
		if (ISIM_WARN_ON(ictx->m, obj != to_destroy)) {
			rc = -ENOENT;
			goto err_unlock;
		}
	} else if (!obj || obj == XA_ZERO_ENTRY) {
		rc = -ENOENT;
		goto err_unlock;
	}
	if (!atomic_compare_exchange_strong(&obj->users, &expect_one, 0)) {
		rc = -EBUSY;
		goto err_unlock;
	}
	if (flags & REMOVE_OBJ_TOMBSTONE)
		isim_idr_replace(&ictx->objects, id, XA_ZERO_ENTRY);
	else
		isim_idr_erase(&ictx->objects, id);
	if ((void *)ictx->vfio_ioas == (void *)obj)
		ictx->vfio_ioas = NULL;
	pthread_mutex_unlock(&ictx->obj_lock);

	if (!waited) {
		/*
		 * users was 1, so a holder of wait_cnt can only be a lookup
		 * that is already on its way out through put_object().
		 */
		if (!refcount_dec_and_test(&obj->wait_cnt) &&
		    ISIM_WARN_ON(ictx->m, wait_for_wait_cnt(ictx, obj)))
			return -EBUSY;
	}
	isim_trace(ctx_trace(ictx), "obj.destroy", "type=%s id=%u%s",
		   iommufd_obj_name(obj->type), id,
		   flags & REMOVE_OBJ_TOMBSTONE ? " tombstone=1" : "");
	if (iommufd_object_ops[obj->type].destroy)
		iommufd_object_ops[obj->type].destroy(obj);
	free(obj);
	return 0;

err_unlock:
	pthread_mutex_unlock(&ictx->obj_lock);
	if (waited && to_destroy)
		refcount_inc(&to_destroy->wait_cnt);
	isim_trace(ctx_trace(ictx), "obj.destroy", "id=%u result=%s", id,
		   rc == -EBUSY ? "EBUSY" : "ENOENT");
	return rc;
}

void iommufd_object_destroy_user(struct iommufd_ctx *ictx,
				 struct iommufd_object *obj)
{
	ISIM_WARN_ON(ictx->m,
		     iommufd_object_remove(ictx, obj, obj->id, REMOVE_WAIT));
}

void iommufd_object_tombstone_user(struct iommufd_ctx *ictx,
				   struct iommufd_object *obj)
{
	ISIM_WARN_ON(ictx->m,
		     iommufd_object_remove(ictx, obj, obj->id,
					   REMOVE_WAIT | REMOVE_OBJ_TOMBSTONE));
}

void iommufd_object_put_and_try_destroy(struct iommufd_ctx *ictx,
					struct iommufd_object *obj)
{
	iommufd_object_remove(ictx, obj, obj->id, 0);
}

int iommufd_destroy(struct iommufd_ucmd *ucmd)
{
	struct iommu_destroy *cmd = ucmd->cmd;

	return iommufd_object_remove(ucmd->ictx, NULL, cmd->id, 0);
}

int isim_open(struct isim_machine *m, struct isim_fd **out)
{
	struct isim_fd *fd;
	struct iommufd_ctx *ictx;

	fd = isim_kzalloc(sizeof(*fd));
	if (!fd)
		return -ENOMEM;
	ictx = &fd->ictx;
	ictx->m = m;
	pthread_mutex_init(&ictx->obj_lock, NULL);
	pthread_cond_init(&ictx->destroy_wait, NULL);
	pthread_rwlock_init(&ictx->ioas_creation_lock, NULL);
	pthread_mutex_init(&ictx->anon_fds_lock, NULL);
	pthread_mutex_init(&ictx->mmap_lock, NULL);
	isim_idr_init(&ictx->objects);

	pthread_mutex_lock(&m->lock);
	ictx->next_in_machine = m->contexts;
	m->contexts = ictx;
	pthread_mutex_unlock(&m->lock);
	isim_trace(&m->trace, "ctx.open", "ctx=%p", (void *)ictx);
	*out = fd;
	return 0;
}

/*
 * Release: no ioctl can be running and no driver holds the file.  Destroy
 * in ascending-ID passes every object nobody else references, until the
 * table is empty; a pass that destroys nothing means a refcount leak.
 */
static void ctx_destroy_objects(struct iommufd_ctx *ictx)
{
	for (;;) {
		unsigned destroyed = 0;
		bool any_seen = false;
		struct iommufd_object *obj;
		uint32_t id;

		for (id = 0; (obj = isim_idr_find_next(&ictx->objects, &id));
		     id++) {
			int one = 1;

			if (obj == XA_ZERO_ENTRY)
				continue;
			any_seen = true;
			if (!atomic_compare_exchange_strong(&obj->users, &one,
							    0))
				continue;
			pthread_mutex_lock(&ictx->obj_lock);
			isim_idr_erase(&ictx->objects, id);
			pthread_mutex_unlock(&ictx->obj_lock);
			isim_trace(ctx_trace(ictx), "obj.destroy",
				   "type=%s id=%u by=close",
				   iommufd_obj_name(obj->type), id);
			if (iommufd_object_ops[obj->type].destroy)
				iommufd_object_ops[obj->type].destroy(obj);
			free(obj);
			destroyed++;
		}
		if (!any_seen)
			break;
		if (ISIM_WARN_ON(ictx->m, !destroyed))
			break;
	}
}

/*
 * What a process exit does before the iommufd itself is released: close
 * the fds and mappings the context handed out and the VFIO device fds
 * that own bound devices.
 */
static void ctx_release_holders(struct iommufd_ctx *ictx)
{
	struct iommufd_object *obj;
	uint32_t id;

	iommufd_anon_fds_release_all(ictx);
	iommufd_mmaps_release_all(ictx);
	for (id = 0;; id++) {
		pthread_mutex_lock(&ictx->obj_lock);
		while ((obj = isim_idr_find_next(&ictx->objects, &id)) &&
		       (obj == XA_ZERO_ENTRY || obj->type != IOMMUFD_OBJ_DEVICE))
			id++;
		pthread_mutex_unlock(&ictx->obj_lock);
		if (!obj)
			break;
		iommufd_device_unbind((struct iommufd_device *)obj);
	}
}

void isim_close(struct isim_fd *fd)
{
	struct iommufd_ctx *ictx, **pp;
	struct isim_machine *m;

	if (!fd)
		return;
	ictx = &fd->ictx;
	m = ictx->m;
	ctx_release_holders(ictx);
	ctx_destroy_objects(ictx);
	isim_idr_destroy(&ictx->objects);

	pthread_mutex_lock(&m->lock);
	for (pp = &m->contexts; *pp; pp = &(*pp)->next_in_machine)
		if (*pp == ictx) {
			*pp = ictx->next_in_machine;
			break;
		}
	pthread_mutex_unlock(&m->lock);

	pthread_mutex_destroy(&ictx->mmap_lock);
	pthread_mutex_destroy(&ictx->anon_fds_lock);
	pthread_rwlock_destroy(&ictx->ioas_creation_lock);
	pthread_cond_destroy(&ictx->destroy_wait);
	pthread_mutex_destroy(&ictx->obj_lock);
	isim_trace(&m->trace, "ctx.close", "ctx=%p", (void *)ictx);
	free(fd);
}

void isim_for_each_object(struct isim_fd *fd, isim_object_fn fn, void *arg)
{
	struct iommufd_ctx *ictx = &fd->ictx;
	struct iommufd_object *obj;
	uint32_t id;

	/* Rows are gathered under the lock and reported outside it. */
	for (id = 0;; id++) {
		struct isim_object_info info = { 0 };

		pthread_mutex_lock(&ictx->obj_lock);
		obj = isim_idr_find_next(&ictx->objects, &id);
		if (obj) {
			info.id = id;
			if (obj != XA_ZERO_ENTRY) {
				info.type = iommufd_obj_name(obj->type);
				info.users = refcount_read(&obj->users);
				info.wait_cnt = refcount_read(&obj->wait_cnt);
			}
		}
		pthread_mutex_unlock(&ictx->obj_lock);
		if (!obj)
			break;
		fn(arg, &info);
	}
}

/*
 * isim_for_each_ref(): the reference edges of the object graph, for tools
 * that draw it.  Edges are gathered under the table lock through the same
 * for_each_ref ops the invariant check counts, and reported outside it.
 */
struct ref_edges {
	struct isim_ref_info *v;
	size_t n, cap;
	uint32_t from;
	bool oom;
};

static void ref_edge_add(struct iommufd_object *target, bool wait, void *arg)
{
	struct ref_edges *e = arg;

	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 16;
		struct isim_ref_info *v = realloc(e->v, cap * sizeof(*v));

		if (!v) {
			e->oom = true;
			return;
		}
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n++] = (struct isim_ref_info){
		.from = e->from, .to = target->id, .wait = wait,
	};
}

int isim_for_each_ref(struct isim_fd *fd, isim_ref_fn fn, void *arg)
{
	struct iommufd_ctx *ictx = &fd->ictx;
	struct ref_edges e = { 0 };
	struct iommufd_object *obj;
	uint32_t id;

	iommufd_mmap_for_each_ref(ictx, ref_edge_add, &e);
	pthread_mutex_lock(&ictx->obj_lock);
	isim_idr_for_each(&ictx->objects, id, obj) {
		if (obj == XA_ZERO_ENTRY ||
		    !iommufd_object_ops[obj->type].for_each_ref)
			continue;
		e.from = id;
		iommufd_object_ops[obj->type].for_each_ref(obj, ref_edge_add,
							   &e);
	}
	pthread_mutex_unlock(&ictx->obj_lock);
	for (size_t i = 0; i < e.n; i++)
		fn(arg, &e.v[i]);
	free(e.v);
	return e.oom ? -ENOMEM : 0;
}

/* Expected reference counts, gathered from every object's for_each_ref. */
struct ref_count {
	const struct iommufd_object *obj;
	int users;
	int wait_cnt;
	UT_hash_handle hh;
};

struct ref_census {
	struct ref_count *table;
	bool oom;
};

static void count_ref(struct iommufd_object *target, bool wait, void *arg)
{
	struct ref_census *census = arg;
	struct ref_count *rc;

	HASH_FIND_PTR(census->table, &target, rc);
	if (!rc) {
		rc = calloc(1, sizeof(*rc));
		if (!rc) {
			census->oom = true;
			return;
		}
		rc->obj = target;
		HASH_ADD_PTR(census->table, obj, rc);
	}
	rc->users++;
	if (wait)
		rc->wait_cnt++;
}

int iommufd_report(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;

	if (buf && *used < len) {
		va_start(ap, fmt);
		*used += (size_t)vsnprintf(buf + *used, len - *used, fmt, ap);
		va_end(ap);
	}
	return 1;
}

#define report(...) (errors += iommufd_report(buf, len, used, __VA_ARGS__))

/* Call only at quiescence: no ioctl in flight on this context. */
int iommufd_ctx_check(struct iommufd_ctx *ictx, char *buf, size_t len,
		      size_t *used)
{
	struct ref_census census = { 0 };
	struct ref_count *rc, *tmp;
	struct iommufd_object *obj;
	unsigned entries = 0;
	int errors = 0;
	uint32_t id;

	/* Live mmaps of vIOMMU regions hold their vIOMMU. */
	iommufd_mmap_for_each_ref(ictx, count_ref, &census);
	pthread_mutex_lock(&ictx->obj_lock);
	isim_idr_for_each(&ictx->objects, id, obj) {
		entries++;
		if (id < IOMMUFD_ID_MIN || id > IOMMUFD_ID_MAX)
			report("ctx %p: ID %u out of range\n", (void *)ictx, id);
		if (obj == XA_ZERO_ENTRY)
			continue;
		if (obj->id != id || obj->type <= IOMMUFD_OBJ_NONE ||
		    obj->type >= IOMMUFD_OBJ_MAX)
			report("ctx %p: slot %u holds id %u type %d\n",
			       (void *)ictx, id, obj->id, obj->type);
		if (iommufd_object_ops[obj->type].for_each_ref)
			iommufd_object_ops[obj->type].for_each_ref(
				obj, count_ref, &census);
	}
	if (entries != ictx->objects.count)
		report("ctx %p: table counts %u entries, holds %u\n",
		       (void *)ictx, ictx->objects.count, entries);
	isim_idr_for_each(&ictx->objects, id, obj) {
		int users, wait_cnt;

		if (obj == XA_ZERO_ENTRY)
			continue;
		HASH_FIND_PTR(census.table, &obj, rc);
		users = 1 + (rc ? rc->users : 0);
		wait_cnt = 1 + (rc ? rc->wait_cnt : 0);
		if (refcount_read(&obj->users) != users ||
		    refcount_read(&obj->wait_cnt) != wait_cnt)
			report("%s %u: users %d wait_cnt %d, references say %d %d\n",
			       iommufd_obj_name(obj->type), id,
			       refcount_read(&obj->users),
			       refcount_read(&obj->wait_cnt), users, wait_cnt);
	}
	pthread_mutex_unlock(&ictx->obj_lock);
	/*
	 * Type checks take the objects' own locks, which nest outside the
	 * table lock; at quiescence the table cannot change meanwhile.
	 */
	isim_idr_for_each(&ictx->objects, id, obj)
		if (obj != XA_ZERO_ENTRY && iommufd_object_ops[obj->type].check)
			errors += iommufd_object_ops[obj->type].check(
				obj, buf, len, used);
	if (census.oom)
		report("ctx %p: out of memory while checking\n", (void *)ictx);
	HASH_ITER(hh, census.table, rc, tmp) {
		HASH_DEL(census.table, rc);
		free(rc);
	}
	return errors;
}

/* Pages objects seen through the areas of every IOAS of every context. */
struct pages_count {
	const struct iopt_pages *pages;
	int areas;
	UT_hash_handle hh;
};

static int count_pages_of(struct iommufd_ctx *ictx, struct pages_count **set)
{
	struct iommufd_object *obj;
	uint32_t id;

	isim_idr_for_each(&ictx->objects, id, obj) {
		struct iommufd_ioas *ioas = (struct iommufd_ioas *)obj;
		struct isim_itree_node *n;

		if (obj == XA_ZERO_ENTRY || obj->type != IOMMUFD_OBJ_IOAS)
			continue;
		pthread_rwlock_rdlock(&ioas->iopt.iova_rwsem);
		isim_itree_for_each(n, &ioas->iopt.area_itree) {
			struct iopt_area *area = iopt_area_from_node(n);
			struct pages_count *pc;

			if (!area->pages)
				continue;
			HASH_FIND_PTR(*set, &area->pages, pc);
			if (!pc) {
				pc = calloc(1, sizeof(*pc));
				if (!pc) {
					pthread_rwlock_unlock(&ioas->iopt.iova_rwsem);
					return -ENOMEM;
				}
				pc->pages = area->pages;
				HASH_ADD_PTR(*set, pages, pc);
			}
			pc->areas++;
		}
		pthread_rwlock_unlock(&ioas->iopt.iova_rwsem);
	}
	return 0;
}

/*
 * Invariants 11 and 12 across the machine: a pages object's kref counts
 * its areas, and every frame pin has a pages object that holds it.
 */
static int check_pages(struct isim_machine *m, char *buf, size_t len,
		       size_t *used)
{
	struct pages_count *set = NULL, *pc, *tmp;
	uint64_t npinned = 0, frame_pins;
	struct iommufd_ctx *ictx;
	int errors = 0;

	for (ictx = m->contexts; ictx; ictx = ictx->next_in_machine)
		if (count_pages_of(ictx, &set))
			report("out of memory while checking pages\n");
	HASH_ITER(hh, set, pc, tmp) {
		if (atomic_load(&pc->pages->kref) != pc->areas)
			report("pages %p: kref %d, %d areas use it\n",
			       (void *)pc->pages, atomic_load(&pc->pages->kref),
			       pc->areas);
		npinned += pc->pages->npinned;
		HASH_DEL(set, pc);
		free(pc);
	}
	frame_pins = isim_phys_total_pins(m->phys);
	if (frame_pins != npinned)
		report("frames carry %llu pins, pages objects hold %llu\n",
		       (unsigned long long)frame_pins,
		       (unsigned long long)npinned);
	return errors;
}

int isim_check(struct isim_machine *m, char *buf, size_t len)
{
	struct iommufd_ctx *ictx;
	size_t zero = 0, *used = &zero;
	unsigned warnings;
	int errors = 0;

	if (len)
		buf[0] = 0;
	warnings = atomic_load(&m->warnings);
	if (warnings)
		report("%u kernel WARN(s) hit (see the \"warn\" trace point)\n",
		       warnings);
	pthread_mutex_lock(&m->lock);
	for (ictx = m->contexts; ictx; ictx = ictx->next_in_machine)
		errors += iommufd_ctx_check(ictx, buf, len, used);
	errors += check_pages(m, buf, len, used);
	pthread_mutex_unlock(&m->lock);
	errors += isim_phys_check(m->phys, buf, len, used);
	return errors ? -EINVAL : 0;
}
