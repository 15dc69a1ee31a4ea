/*
 * Event queues and the fds that carry them to userspace.  The first half
 * is the anonymous-fd layer: the kernel gives each event queue its own
 * anon-inode file, and here each gets a real eventfd whose counter is
 * non-zero exactly while the queue has something to read, so poll() works
 * on it unchanged while read/write/close go through isim_read(),
 * isim_write() and isim_fd_close().  The second half is the vEVENTQ
 * (spec/hw_queue.md §5.3): IOMMU_VEVENTQ_ALLOC, the driver's event report
 * with its single lost-events marker and 31-bit sequence, and the
 * whole-record, never-blocking read.  Mirrors drivers/iommu/iommufd/eventq.c.
 *
 * Locks: viommu->veventqs_rwsem → veventq->mutex; ictx->anon_fds_lock is
 * a leaf, never held while calling into an object.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sim/iommufd/eventq.h"
#include "sim/lib/fault.h"
#include "sim/lib/uaccess.h"

/* ---------------------------------------------------------------- fds */

static inline struct isim_tracer *afd_trace(struct iommufd_anon_fd *afd)
{
	return &afd->ictx->m->trace;
}

struct iommufd_anon_fd *iommufd_anon_fd_alloc(struct iommufd_ctx *ictx,
					      struct iommufd_object *obj,
					      const struct iommufd_anon_fd_ops *ops)
{
	struct iommufd_anon_fd *afd;
	int rc;

	afd = isim_kzalloc(sizeof(*afd));	/* the kernel's struct file */
	if (!afd)
		return ERR_PTR(-ENOMEM);
	/* The kernel's get_unused_fd_flags() can fail on its own. */
	if (isim_should_fail()) {
		rc = -EMFILE;
		goto err_free;
	}
	afd->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (afd->efd < 0) {
		rc = -errno;
		goto err_free;
	}
	afd->ictx = ictx;
	afd->obj = obj;
	afd->ops = ops;
	atomic_init(&afd->refs, 1);
	/* The open file keeps its object: DESTROY is EBUSY until close. */
	refcount_inc(&obj->users);
	isim_trace(afd_trace(afd), "fd.open", "fd=%d type=%s id=%u", afd->efd,
		   iommufd_obj_name(obj->type), obj->id);
	return afd;

err_free:
	free(afd);
	return ERR_PTR(rc);
}

/* The last reference is the file's final fput. */
static void anon_fd_put(struct iommufd_anon_fd *afd)
{
	struct iommufd_object *obj = afd->obj;

	if (!refcount_dec_and_test(&afd->refs))
		return;
	/* Before the close: the number is free for reuse right after it. */
	if (afd->ops->release)
		afd->ops->release(obj);
	isim_trace(afd_trace(afd), "fd.close", "fd=%d type=%s id=%u", afd->efd,
		   iommufd_obj_name(obj->type), obj->id);
	close(afd->efd);
	refcount_dec(&obj->users);
	free(afd);
}

void iommufd_anon_fd_install(struct iommufd_anon_fd *afd)
{
	struct iommufd_ctx *ictx = afd->ictx;

	pthread_mutex_lock(&ictx->anon_fds_lock);
	afd->next = ictx->anon_fds;
	ictx->anon_fds = afd;
	pthread_mutex_unlock(&ictx->anon_fds_lock);
}

void iommufd_anon_fd_discard(struct iommufd_anon_fd *afd)
{
	ISIM_WARN_ON(afd->ictx->m, refcount_read(&afd->refs) != 1);
	anon_fd_put(afd);
}

void iommufd_anon_fd_signal(struct iommufd_anon_fd *afd, bool readable)
{
	uint64_t val = 1;
	int saved = errno;	/* a library call must not leak errno */
	ssize_t n;

	if (afd->readable == readable)
		return;
	if (readable) {
		n = write(afd->efd, &val, sizeof(val));
	} else {
		n = read(afd->efd, &val, sizeof(val));
		/* Already drained (someone read the eventfd): same result. */
		if (n < 0 && errno == EAGAIN)
			n = sizeof(val);
	}
	ISIM_WARN_ON(afd->ictx->m, n != (ssize_t)sizeof(val));
	afd->readable = readable;
	errno = saved;
}

/* The fd @efd of this context with a call reference, or NULL. */
static struct iommufd_anon_fd *anon_fd_get(struct iommufd_ctx *ictx, int efd)
{
	struct iommufd_anon_fd *afd;

	pthread_mutex_lock(&ictx->anon_fds_lock);
	for (afd = ictx->anon_fds; afd; afd = afd->next)
		if (afd->efd == efd) {
			refcount_inc(&afd->refs);
			break;
		}
	pthread_mutex_unlock(&ictx->anon_fds_lock);
	return afd;
}

ssize_t isim_read(struct isim_fd *fd, int efd, void *buf, size_t count)
{
	struct iommufd_anon_fd *afd = anon_fd_get(&fd->ictx, efd);
	ssize_t rc;

	if (!afd)
		return -EBADF;
	rc = afd->ops->read ? afd->ops->read(afd->obj, buf, count) : -EINVAL;
	anon_fd_put(afd);
	return rc;
}

ssize_t isim_write(struct isim_fd *fd, int efd, const void *buf, size_t count)
{
	struct iommufd_anon_fd *afd = anon_fd_get(&fd->ictx, efd);
	ssize_t rc;

	if (!afd)
		return -EBADF;
	rc = afd->ops->write ? afd->ops->write(afd->obj, buf, count) : -EINVAL;
	anon_fd_put(afd);
	return rc;
}

int isim_fd_close(struct isim_fd *fd, int efd)
{
	struct iommufd_ctx *ictx = &fd->ictx;
	struct iommufd_anon_fd **pp, *afd = NULL;

	pthread_mutex_lock(&ictx->anon_fds_lock);
	for (pp = &ictx->anon_fds; *pp; pp = &(*pp)->next)
		if ((*pp)->efd == efd) {
			afd = *pp;
			*pp = afd->next;
			break;
		}
	pthread_mutex_unlock(&ictx->anon_fds_lock);
	if (!afd)
		return -EBADF;
	/* A read in flight keeps the file; the last one out releases it. */
	anon_fd_put(afd);
	return 0;
}

void iommufd_anon_fds_release_all(struct iommufd_ctx *ictx)
{
	struct iommufd_anon_fd *afd, *next;

	pthread_mutex_lock(&ictx->anon_fds_lock);
	afd = ictx->anon_fds;
	ictx->anon_fds = NULL;
	pthread_mutex_unlock(&ictx->anon_fds_lock);
	for (; afd; afd = next) {
		next = afd->next;
		anon_fd_put(afd);
	}
}

/* ------------------------------------------------------------ vEVENTQ */

static inline void link_init(struct iommufd_vevent_link *l)
{
	l->prev = l->next = l;
}

static inline bool link_empty(const struct iommufd_vevent_link *head)
{
	return head->next == head;
}

static inline void link_add_tail(struct iommufd_vevent_link *l,
				 struct iommufd_vevent_link *head)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

/* Unlinked nodes point at themselves, so "is it queued" stays answerable. */
static inline void link_del(struct iommufd_vevent_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	link_init(l);
}

_Static_assert(offsetof(struct iommufd_vevent, event_data) ==
		       offsetof(struct iommufd_vevent, header) +
			       sizeof(struct iommufd_vevent_header),
	       "a record is copied out as header and payload in one piece");
_Static_assert(sizeof(struct iommufd_vevent_header) == 8,
	       "uAPI header layout");

static inline struct iommufd_veventq *to_veventq(struct iommufd_object *obj)
{
	return isim_container_of(obj, struct iommufd_veventq, obj);
}

static inline struct iommufd_vevent *
vevent_of(struct iommufd_vevent_link *l)
{
	return isim_container_of(l, struct iommufd_vevent, node);
}

/* Caller holds viommu->veventqs_rwsem (either way). */
static struct iommufd_veventq *veventq_find(struct iommufd_viommu *viommu,
					    unsigned type)
{
	struct iommufd_veventq *veventq;

	for (veventq = viommu->veventqs; veventq; veventq = veventq->next)
		if (veventq->type == type)
			return veventq;
	return NULL;
}

/* Caller holds veventq->mutex: the fd is readable iff a record waits. */
static void veventq_update_poll(struct iommufd_veventq *veventq)
{
	if (veventq->afd)
		iommufd_anon_fd_signal(veventq->afd,
				       !link_empty(&veventq->deliver));
}

/*
 * Append a record (or the lost marker) and stamp it.  A marker at the tail
 * is taken out first: a fresher marker replaces it, and after a normal
 * record the jump in sequence numbers tells the reader what was lost.
 * That keeps at most one marker, and only ever at the tail.
 */
static void veventq_append(struct iommufd_veventq *veventq,
			   struct iommufd_vevent_link *l)
{
	uint32_t seq = veventq->sequence;

	if (veventq->deliver.prev == &veventq->lost_events)
		link_del(&veventq->lost_events);
	link_add_tail(l, &veventq->deliver);
	if (l == &veventq->lost_events)
		veventq->lost_sequence = seq;
	else
		vevent_of(l)->header.sequence = seq;
	veventq->sequence = (seq + 1) & INT_MAX;
}

int iommufd_viommu_report_event(struct iommufd_viommu *viommu, unsigned type,
				const void *event, size_t len)
{
	struct iommufd_veventq *veventq;
	struct iommufd_vevent_link *l;
	struct iommufd_vevent *vevent;
	uint32_t id, seq;
	bool lost;
	int rc = 0;

	if (ISIM_WARN_ON(viommu->ictx->m, !event || !len))
		return -EINVAL;

	pthread_rwlock_rdlock(&viommu->veventqs_rwsem);
	veventq = veventq_find(viommu, type);
	if (!veventq) {
		rc = -EOPNOTSUPP;
		goto out_unlock;
	}

	pthread_mutex_lock(&veventq->mutex);
	if (veventq->num_events == veventq->depth) {
		l = &veventq->lost_events;
	} else {
		vevent = isim_kzalloc(sizeof(*vevent) + len);
		if (vevent) {
			memcpy(vevent->event_data, event, len);
			vevent->data_len = len;
			veventq->num_events++;
			l = &vevent->node;
		} else {
			/* The event is gone all the same: say so in-band. */
			rc = -ENOMEM;
			l = &veventq->lost_events;
		}
	}
	veventq_append(veventq, l);
	veventq_update_poll(veventq);
	lost = l == &veventq->lost_events;
	seq = lost ? veventq->lost_sequence : vevent_of(l)->header.sequence;
	id = veventq->obj.id;
	pthread_mutex_unlock(&veventq->mutex);
	pthread_rwlock_unlock(&viommu->veventqs_rwsem);
	/* Outside the locks: a trace sink may call back into the library. */
	isim_trace(&viommu->ictx->m->trace, "veventq.report",
		   "id=%u type=%#x seq=%u%s", id, type, seq,
		   lost ? " lost=1" : "");
	return rc;

out_unlock:
	pthread_rwlock_unlock(&viommu->veventqs_rwsem);
	return rc;
}

/*
 * Whole records only, oldest first, never blocking.  The mutex is held
 * across the copies, so a record that does not fit or faults simply stays
 * where it is: the kernel's "put it back at the head" falls out for free,
 * and a marker at the head is the only record, as the kernel requires
 * before putting one back.
 */
static ssize_t veventq_read(struct iommufd_object *obj, void *buf,
			    size_t count)
{
	struct iommufd_veventq *veventq = to_veventq(obj);
	struct iommufd_vevent_header lost;
	size_t done = 0;
	int rc = 0;

	pthread_mutex_lock(&veventq->mutex);
	while (!link_empty(&veventq->deliver)) {
		struct iommufd_vevent_link *l = veventq->deliver.next;
		struct iommufd_vevent *vevent = NULL;
		const void *src;
		size_t n;

		if (l == &veventq->lost_events) {
			lost.flags = IOMMU_VEVENTQ_FLAG_LOST_EVENTS;
			lost.sequence = veventq->lost_sequence;
			src = &lost;
			n = sizeof(lost);
		} else {
			vevent = vevent_of(l);
			src = &vevent->header;
			n = sizeof(vevent->header) + vevent->data_len;
		}
		if (n > count - done)
			break;
		if (isim_copy_to_user(user_ptr_add(buf, done), src, n)) {
			rc = -EFAULT;
			break;
		}
		link_del(l);
		if (vevent) {
			veventq->num_events--;
			free(vevent);
		}
		done += n;
	}
	veventq_update_poll(veventq);
	pthread_mutex_unlock(&veventq->mutex);
	isim_trace(&veventq->viommu->ictx->m->trace, "veventq.read",
		   "id=%u count=%zu done=%zu rc=%d", obj->id, count, done, rc);
	return done ? (ssize_t)done : rc;
}

static void veventq_fd_release(struct iommufd_object *obj)
{
	struct iommufd_veventq *veventq = to_veventq(obj);

	pthread_mutex_lock(&veventq->mutex);
	veventq->afd = NULL;
	atomic_store(&veventq->fd_open, false);
	pthread_mutex_unlock(&veventq->mutex);
}

/* No .write: the vEVENTQ fd is read-only, write(2) answers EINVAL. */
static const struct iommufd_anon_fd_ops veventq_fd_ops = {
	.read = veventq_read,
	.release = veventq_fd_release,
};

int iommufd_veventq_alloc(struct iommufd_ucmd *ucmd)
{
	struct iommu_veventq_alloc *cmd = ucmd->cmd;
	struct iommufd_ctx *ictx = ucmd->ictx;
	struct iommufd_veventq *veventq;
	struct iommufd_viommu *viommu;
	struct iommufd_anon_fd *afd;
	struct iommufd_object *obj;
	int rc;

	if (cmd->flags || cmd->__reserved ||
	    cmd->type == IOMMU_VEVENTQ_TYPE_DEFAULT)
		return -EOPNOTSUPP;
	if (!cmd->veventq_depth)
		return -EINVAL;

	obj = iommufd_get_object(ictx, cmd->viommu_id, IOMMUFD_OBJ_VIOMMU);
	if (IS_ERR(obj))
		return (int)PTR_ERR(obj);
	viommu = isim_container_of(obj, struct iommufd_viommu, obj);

	/* Held to the end: no report may see a queue not yet finalized. */
	pthread_rwlock_wrlock(&viommu->veventqs_rwsem);
	if (veventq_find(viommu, cmd->type)) {
		rc = -EEXIST;
		goto out_unlock;
	}

	/* Not the ucmd variant: the abort op needs the rwsem we hold. */
	obj = _iommufd_object_alloc(ictx, sizeof(*veventq),
				    IOMMUFD_OBJ_VEVENTQ);
	if (IS_ERR(obj)) {
		rc = (int)PTR_ERR(obj);
		goto out_unlock;
	}
	veventq = to_veventq(obj);
	veventq->type = cmd->type;
	veventq->depth = cmd->veventq_depth;
	pthread_mutex_init(&veventq->mutex, NULL);
	link_init(&veventq->deliver);
	link_init(&veventq->lost_events);
	veventq->viommu = viommu;
	refcount_inc(&viommu->obj.users);
	veventq->next = viommu->veventqs;
	viommu->veventqs = veventq;

	afd = iommufd_anon_fd_alloc(ictx, &veventq->obj, &veventq_fd_ops);
	if (IS_ERR(afd)) {
		rc = (int)PTR_ERR(afd);
		goto out_abort;
	}
	pthread_mutex_lock(&veventq->mutex);
	veventq->afd = afd;
	atomic_store(&veventq->fd_open, true);
	pthread_mutex_unlock(&veventq->mutex);

	cmd->out_veventq_id = veventq->obj.id;
	cmd->out_veventq_fd = (uint32_t)afd->efd;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_discard;

	iommufd_object_finalize(ictx, &veventq->obj);
	/* Like fd_install(): reachable only once the object is. */
	iommufd_anon_fd_install(afd);
	goto out_unlock;

out_discard:
	iommufd_anon_fd_discard(afd);
out_abort:
	iommufd_object_abort_and_destroy(ictx, &veventq->obj);
out_unlock:
	pthread_rwlock_unlock(&viommu->veventqs_rwsem);
	iommufd_put_object(ictx, &viommu->obj);
	return rc;
}

/* Caller holds viommu->veventqs_rwsem for writing. */
void iommufd_veventq_abort(struct iommufd_object *obj)
{
	struct iommufd_veventq *veventq = to_veventq(obj);
	struct iommufd_viommu *viommu = veventq->viommu;
	struct iommufd_veventq **pp;

	/* users == 0 here, so no open fd can still point at us. */
	ISIM_WARN_ON(viommu->ictx->m, veventq->afd);
	while (!link_empty(&veventq->deliver)) {
		struct iommufd_vevent_link *l = veventq->deliver.next;

		link_del(l);
		if (l != &veventq->lost_events)
			free(vevent_of(l));
	}
	veventq->num_events = 0;
	for (pp = &viommu->veventqs; *pp; pp = &(*pp)->next)
		if (*pp == veventq) {
			*pp = veventq->next;
			break;
		}
	refcount_dec(&viommu->obj.users);
	pthread_mutex_destroy(&veventq->mutex);
}

void iommufd_veventq_destroy(struct iommufd_object *obj)
{
	struct iommufd_viommu *viommu = to_veventq(obj)->viommu;

	pthread_rwlock_wrlock(&viommu->veventqs_rwsem);
	iommufd_veventq_abort(obj);
	pthread_rwlock_unlock(&viommu->veventqs_rwsem);
}

void iommufd_veventq_for_each_ref(struct iommufd_object *obj,
				  iommufd_ref_fn fn, void *arg)
{
	struct iommufd_veventq *veventq = to_veventq(obj);

	fn(&veventq->viommu->obj, false, arg);
	/* The open fd is an outside holder: reported as a ref on ourselves. */
	if (atomic_load(&veventq->fd_open))
		fn(obj, false, arg);
}

#define report(...) (errors += iommufd_report(buf, len, used, __VA_ARGS__))

int iommufd_veventq_check(struct iommufd_object *obj, char *buf, size_t len,
			  size_t *used)
{
	struct iommufd_veventq *veventq = to_veventq(obj);
	struct iommufd_vevent_link *l;
	bool lost_seen = false;
	uint32_t normal = 0;
	int errors = 0;

	pthread_mutex_lock(&veventq->mutex);
	for (l = veventq->deliver.next; l != &veventq->deliver; l = l->next) {
		if (lost_seen)
			report("veventq %u: a record follows the lost marker\n",
			       obj->id);
		if (l == &veventq->lost_events) {
			lost_seen = true;
			continue;
		}
		normal++;
		if (vevent_of(l)->header.flags ||
		    vevent_of(l)->header.sequence > INT_MAX ||
		    !vevent_of(l)->data_len)
			report("veventq %u: malformed record seq %u\n", obj->id,
			       vevent_of(l)->header.sequence);
	}
	if (lost_seen == link_empty(&veventq->lost_events))
		report("veventq %u: lost marker linked outside the queue\n",
		       obj->id);
	if (normal != veventq->num_events || normal > veventq->depth)
		report("veventq %u: %u records queued, count %u, depth %u\n",
		       obj->id, normal, veventq->num_events, veventq->depth);
	if (veventq->sequence > INT_MAX)
		report("veventq %u: sequence %u past INT_MAX\n", obj->id,
		       veventq->sequence);
	if (veventq->afd &&
	    veventq->afd->readable == link_empty(&veventq->deliver))
		report("veventq %u: fd readable %d with %s queue\n", obj->id,
		       veventq->afd->readable,
		       link_empty(&veventq->deliver) ? "an empty" : "a busy");
	if ((veventq->afd != NULL) != atomic_load(&veventq->fd_open))
		report("veventq %u: fd_open out of step\n", obj->id);
	pthread_mutex_unlock(&veventq->mutex);
	return errors;
}

void iommufd_veventq_set_sequence(struct iommufd_veventq *veventq,
				  uint32_t sequence)
{
	pthread_mutex_lock(&veventq->mutex);
	veventq->sequence = sequence & INT_MAX;
	pthread_mutex_unlock(&veventq->mutex);
}
