/*
 * FAULT objects: the queue an I/O page fault (IOPF) travels on from a
 * device to userspace and back (spec/core.md §8.17, spec/kselftest.md
 * §2.4 and §5).  IOMMU_FAULT_QUEUE_ALLOC makes the object and its fd; a
 * HWPT allocated with IOMMU_HWPT_FAULT_ID_VALID holds it; a page request
 * from a device attached to such a HWPT becomes a group on the queue;
 * read() hands groups out as struct iommu_hwpt_pgfault records, each
 * group under a fresh cookie, and write() of struct
 * iommu_hwpt_page_response quoting that cookie completes the group.
 * Mirrors the IOMMUFD_OBJ_FAULT half of drivers/iommu/iommufd/eventq.c,
 * with the iopf_group plumbing of drivers/iommu/io-pgfault.c cut down to
 * what the simulated devices need.
 *
 * The fd comes from the anon-fd layer of eventq.h: an eventfd that is
 * readable exactly while a group waits to be read.  Like the kernel's
 * fault file it is always writable.
 *
 * Simplifications, each stated where it applies: every page request is
 * a whole group (LAST_PAGE; no partial requests are kept per device),
 * PASID attachments are not modelled (a PASID request goes to the nested
 * HWPT on the RID, as for drivers with a user-managed PASID table), and
 * no simulated IOMMU takes page responses, so completing a group only
 * traces the response code.
 *
 * Locks: dev->group_lock → fault->mutex; hwpt_faults_lock is a leaf (it
 * is taken under ictx->obj_lock by the reference census).
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include <linux/iommufd.h>
#include <iommufd_test.h>

#include "sim/iommufd/eventq.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/lib/fault.h"
#include "sim/lib/uaccess.h"

/* A link of the deliver list, whose head is a bare link. */
struct iopf_link {
	struct iopf_link *prev, *next;
};

/* One page request group: the records read() returns for it. */
struct iopf_group {
	struct iopf_link link;		/* on fault->deliver while queued */
	/*
	 * The attachment the request came through (the kernel's attach
	 * handle): compared, never dereferenced.
	 */
	const void *handle;
	uint32_t cookie;		/* 0 until read; then the response key */
	uint32_t fault_count;
	struct iommu_hwpt_pgfault faults[];	/* cookie filled in on read */
};

struct iommufd_fault {
	struct iommufd_object obj;
	struct iommufd_ctx *ictx;
	pthread_mutex_t mutex;		/* everything below */
	struct iopf_link deliver;	/* list head: oldest first */
	uint32_t num_deliver;
	/* Groups read but not yet answered, by cookie (1 .. UINT32_MAX). */
	struct isim_idr response;
	struct iommufd_anon_fd *afd;	/* NULL once the fd is closed */
	atomic_bool fd_open;		/* afd != NULL, for the ref census */
};

/* Other files hold a FAULT as its object header, which comes first. */
_Static_assert(offsetof(struct iommufd_fault, obj) == 0,
	       "struct iommufd_fault starts with its object");

static inline struct iommufd_fault *to_fault(struct iommufd_object *obj)
{
	return isim_container_of(obj, struct iommufd_fault, obj);
}

static inline struct isim_tracer *fault_trace(struct iommufd_fault *fault)
{
	return &fault->ictx->m->trace;
}

/* ------------------------------------------------------ the group list */

static inline void link_init(struct iopf_link *l)
{
	l->prev = l->next = l;
}

static inline bool group_list_empty(const struct iopf_link *head)
{
	return head->next == head;
}

static inline struct iopf_group *link_group(struct iopf_link *l)
{
	return isim_container_of(l, struct iopf_group, link);
}

/* A group that is queued on a deliver list (its link is not alone). */
static inline bool group_queued(const struct iopf_group *g)
{
	return g->link.next != &g->link;
}

static inline void group_add_tail(struct iopf_group *g, struct iopf_link *head)
{
	g->link.prev = head->prev;
	g->link.next = head;
	head->prev->next = &g->link;
	head->prev = &g->link;
}

static inline void group_del(struct iopf_group *g)
{
	g->link.prev->next = g->link.next;
	g->link.next->prev = g->link.prev;
	link_init(&g->link);
}

/*
 * iopf_group_response() + iopf_free_group().  No simulated IOMMU takes a
 * page response (the mock's page_response op is empty), so the answer is
 * only traced.
 */
static void group_respond_free(struct iommufd_fault *fault,
			       struct iopf_group *g, unsigned code)
{
	isim_trace(fault_trace(fault), "fault.response",
		   "id=%u dev_id=%u grpid=%u code=%u", fault->obj.id,
		   g->faults[0].dev_id, g->faults[0].grpid, code);
	free(g);
}

/* Caller holds fault->mutex: the fd is readable iff a group waits. */
static void fault_update_poll(struct iommufd_fault *fault)
{
	if (fault->afd)
		iommufd_anon_fd_signal(fault->afd,
				       !group_list_empty(&fault->deliver));
}

/* --------------------------------------------------------------- the fd */

/*
 * Whole groups only, oldest first, never blocking.  The kernel's rules:
 * a count that is not a multiple of the record size is ESPIPE; a group
 * that does not fit in what is left ends the read; a group gets its
 * cookie (the lowest free one) when it is copied out and keeps it until
 * answered; a failed copy takes the cookie back and leaves the group at
 * the head.  Returns the bytes copied, or the error if there are none.
 */
static ssize_t fault_fd_read(struct iommufd_object *obj, void *buf,
			     size_t count)
{
	const size_t fault_size = sizeof(struct iommu_hwpt_pgfault);
	struct iommufd_fault *fault = to_fault(obj);
	size_t done = 0;
	int rc = 0;

	if (count % fault_size)
		return -ESPIPE;

	pthread_mutex_lock(&fault->mutex);
	while (!group_list_empty(&fault->deliver)) {
		struct iopf_group *g = link_group(fault->deliver.next);
		uint32_t i;

		if (done >= count ||
		    (size_t)g->fault_count * fault_size > count - done)
			break;
		rc = isim_idr_alloc(&fault->response, g, 1, UINT32_MAX,
				    &g->cookie);
		if (rc)
			break;
		for (i = 0; i < g->fault_count; i++) {
			g->faults[i].cookie = g->cookie;
			if (isim_copy_to_user(user_ptr_add(buf, done),
					      &g->faults[i],
					      fault_size)) {
				rc = -EFAULT;
				break;
			}
			done += fault_size;
		}
		if (rc) {
			/* The records already copied stay counted, as upstream. */
			isim_idr_erase(&fault->response, g->cookie);
			g->cookie = 0;
			break;
		}
		group_del(g);
		fault->num_deliver--;
	}
	fault_update_poll(fault);
	pthread_mutex_unlock(&fault->mutex);
	isim_trace(fault_trace(fault), "fault.read",
		   "id=%u count=%zu done=%zu rc=%d", obj->id, count, done, rc);
	return done ? (ssize_t)done : rc;
}

/*
 * Responses, in order, each completing the group read under its cookie:
 * ESPIPE for a count that is not a multiple of the response size, EINVAL
 * for a code other than SUCCESS/INVALID or a cookie with no group behind
 * it.  The first bad response stops the write; what went before stands.
 */
static ssize_t fault_fd_write(struct iommufd_object *obj, const void *buf,
			      size_t count)
{
	const size_t response_size = sizeof(struct iommu_hwpt_page_response);
	struct iommufd_fault *fault = to_fault(obj);
	struct iommu_hwpt_page_response response;
	size_t done = 0;
	ssize_t rc = 0;

	if (count % response_size)
		return -ESPIPE;

	pthread_mutex_lock(&fault->mutex);
	while (count > done) {
		struct iopf_group *g;

		if (isim_copy_from_user(&response, (const char *)buf + done,
					response_size)) {
			/*
			 * Upstream keeps copy_from_user()'s return, the
			 * number of bytes it could not copy, and returns
			 * that when nothing was done: a positive count, not
			 * -EFAULT.  Unreadable here means the whole record.
			 */
			rc = (ssize_t)response_size;
			break;
		}
		if (response.code != IOMMUFD_PAGE_RESP_SUCCESS &&
		    response.code != IOMMUFD_PAGE_RESP_INVALID) {
			rc = -EINVAL;
			break;
		}
		g = isim_idr_erase(&fault->response, response.cookie);
		if (!g) {
			rc = -EINVAL;
			break;
		}
		group_respond_free(fault, g, response.code);
		done += response_size;
	}
	pthread_mutex_unlock(&fault->mutex);
	isim_trace(fault_trace(fault), "fault.write",
		   "id=%u count=%zu done=%zu rc=%zd", obj->id, count, done, rc);
	return done ? (ssize_t)done : rc;
}

static void fault_fd_release(struct iommufd_object *obj)
{
	struct iommufd_fault *fault = to_fault(obj);

	pthread_mutex_lock(&fault->mutex);
	fault->afd = NULL;
	atomic_store(&fault->fd_open, false);
	pthread_mutex_unlock(&fault->mutex);
}

static const struct iommufd_anon_fd_ops fault_fd_ops = {
	.read = fault_fd_read,
	.write = fault_fd_write,
	.release = fault_fd_release,
};

/* ----------------------------------------------------- the object */

/*
 * IOMMU_FAULT_QUEUE_ALLOC.  Upstream creates the object through the ucmd,
 * so the dispatcher finalizes it after the handler (or destroys it on
 * error); the fd is published before that, as fd_install() is.
 */
int iommufd_fault_alloc(struct iommufd_ucmd *ucmd)
{
	struct iommu_fault_alloc *cmd = ucmd->cmd;
	struct iommufd_fault *fault;
	struct iommufd_anon_fd *afd;
	struct iommufd_object *obj;
	int rc;

	if (cmd->flags)
		return -EOPNOTSUPP;

	obj = _iommufd_object_alloc_ucmd(ucmd, sizeof(*fault),
					 IOMMUFD_OBJ_FAULT);
	if (IS_ERR(obj))
		return (int)PTR_ERR(obj);
	fault = to_fault(obj);
	fault->ictx = ucmd->ictx;
	pthread_mutex_init(&fault->mutex, NULL);
	link_init(&fault->deliver);
	isim_idr_init(&fault->response);

	afd = iommufd_anon_fd_alloc(ucmd->ictx, obj, &fault_fd_ops);
	if (IS_ERR(afd))
		return (int)PTR_ERR(afd);
	pthread_mutex_lock(&fault->mutex);
	fault->afd = afd;
	atomic_store(&fault->fd_open, true);
	pthread_mutex_unlock(&fault->mutex);

	cmd->out_fault_id = obj->id;
	cmd->out_fault_fd = (uint32_t)afd->efd;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc) {
		/* put_unused_fd() + fput(): the release runs right here. */
		iommufd_anon_fd_discard(afd);
		return rc;
	}
	iommufd_anon_fd_install(afd);
	return 0;
}

/*
 * users == 0: no fd, no HWPT, no reader.  Everything still queued or
 * waiting for an answer is answered INVALID, as upstream does.
 */
void iommufd_fault_destroy(struct iommufd_object *obj)
{
	struct iommufd_fault *fault = to_fault(obj);
	struct iopf_group *g;
	uint32_t cookie;

	/* A ucmd object must survive a destroy before its setup (§1.5). */
	if (!fault->ictx)
		return;
	ISIM_WARN_ON(fault->ictx->m, fault->afd);
	while (!group_list_empty(&fault->deliver)) {
		g = link_group(fault->deliver.next);
		group_del(g);
		group_respond_free(fault, g, IOMMUFD_PAGE_RESP_INVALID);
	}
	fault->num_deliver = 0;
	isim_idr_for_each(&fault->response, cookie, g) {
		isim_idr_erase(&fault->response, cookie);
		group_respond_free(fault, g, IOMMUFD_PAGE_RESP_INVALID);
	}
	isim_idr_destroy(&fault->response);
	pthread_mutex_destroy(&fault->mutex);
}

void iommufd_fault_for_each_ref(struct iommufd_object *obj, iommufd_ref_fn fn,
				void *arg)
{
	/* The open fd is an outside holder: reported as a ref on ourselves. */
	if (atomic_load(&to_fault(obj)->fd_open))
		fn(obj, false, arg);
}

#define report(...) (errors += iommufd_report(buf, len, used, __VA_ARGS__))

int iommufd_fault_check(struct iommufd_object *obj, char *buf, size_t len,
			size_t *used)
{
	struct iommufd_fault *fault = to_fault(obj);
	struct iopf_group *g;
	uint32_t queued = 0, cookie;
	int errors = 0;

	if (!fault->ictx)	/* never set up: nothing to check */
		return 0;
	pthread_mutex_lock(&fault->mutex);
	for (struct iopf_link *l = fault->deliver.next; l != &fault->deliver;
	     l = l->next) {
		g = link_group(l);
		queued++;
		if (g->cookie || !g->fault_count)
			report("fault %u: queued group with cookie %u, %u records\n",
			       obj->id, g->cookie, g->fault_count);
	}
	if (queued != fault->num_deliver)
		report("fault %u: %u groups queued, count %u\n", obj->id,
		       queued, fault->num_deliver);
	isim_idr_for_each(&fault->response, cookie, g)
		if (g->cookie != cookie || group_queued(g))
			report("fault %u: response %u holds cookie %u%s\n",
			       obj->id, cookie, g->cookie,
			       group_queued(g) ? " and is queued" : "");
	if (fault->afd && fault->afd->readable ==
				  group_list_empty(&fault->deliver))
		report("fault %u: fd readable %d with %s queue\n", obj->id,
		       fault->afd->readable,
		       group_list_empty(&fault->deliver) ? "an empty" :
							    "a busy");
	if ((fault->afd != NULL) != atomic_load(&fault->fd_open))
		report("fault %u: fd_open out of step\n", obj->id);
	pthread_mutex_unlock(&fault->mutex);
	return errors;
}

#undef report

struct iommufd_fault *iommufd_get_fault(struct iommufd_ctx *ictx, uint32_t id)
{
	struct iommufd_object *obj =
		iommufd_get_object(ictx, id, IOMMUFD_OBJ_FAULT);

	return IS_ERR(obj) ? (void *)obj : to_fault(obj);
}

/* ------------------------------------------ which HWPT has which FAULT */

/*
 * The kernel's hwpt->fault, kept beside the HWPT rather than in it: set
 * once while the HWPT is being built, dropped when it is destroyed.
 */
struct hwpt_fault_link {
	const struct iommufd_hw_pagetable *hwpt;
	struct iommufd_fault *fault;
	UT_hash_handle hh;
};

static pthread_mutex_t hwpt_faults_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hwpt_fault_link *hwpt_faults;

int iommufd_hwpt_set_fault(struct iommufd_hw_pagetable *hwpt,
			   struct iommufd_fault *fault)
{
	/* Bookkeeping of ours, not a kernel allocation: no injected failure. */
	struct hwpt_fault_link *link = calloc(1, sizeof(*link));

	if (!link)
		return -ENOMEM;
	link->hwpt = hwpt;
	link->fault = fault;
	pthread_mutex_lock(&hwpt_faults_lock);
	HASH_ADD_PTR(hwpt_faults, hwpt, link);
	pthread_mutex_unlock(&hwpt_faults_lock);
	refcount_inc(&fault->obj.users);
	return 0;
}

struct iommufd_fault *iommufd_hwpt_fault(const struct iommufd_hw_pagetable *hwpt)
{
	struct hwpt_fault_link *link;

	pthread_mutex_lock(&hwpt_faults_lock);
	HASH_FIND_PTR(hwpt_faults, &hwpt, link);
	pthread_mutex_unlock(&hwpt_faults_lock);
	return link ? link->fault : NULL;
}

void iommufd_hwpt_put_fault(struct iommufd_hw_pagetable *hwpt)
{
	struct hwpt_fault_link *link;

	pthread_mutex_lock(&hwpt_faults_lock);
	HASH_FIND_PTR(hwpt_faults, &hwpt, link);
	if (link)
		HASH_DEL(hwpt_faults, link);
	pthread_mutex_unlock(&hwpt_faults_lock);
	if (!link)
		return;
	refcount_dec(&link->fault->obj.users);
	free(link);
}

/* ------------------------------------------------- page requests */

/*
 * A device's page request (iommu_report_device_fault()).  The handler is
 * the FAULT of the HWPT the request comes through: for no PASID the HWPT
 * on the RID; for a PASID, since PASID attachments are not modelled, the
 * HWPT on the RID if it is nested (a user-managed PASID table, the mock's
 * user_pasid_table).  No handler: the request is refused (-ENODEV; the
 * kernel answers the device INVALID and says nothing to the caller).
 * Every request is the last of its group, so it is a group of its own.
 */
int iommufd_report_device_fault(struct isim_device *dev, uint32_t pasid,
				uint32_t grpid, uint32_t perm, uint64_t addr)
{
	struct iommufd_hw_pagetable *hwpt = NULL;
	struct iommufd_fault *fault = NULL;
	struct iommufd_device *idev;
	struct iopf_group *g;
	int rc = 0;

	pthread_mutex_lock(&dev->group_lock);
	idev = dev->idev;
	if (idev)
		hwpt = idev->hwpt;
	if (hwpt && (!pasid || hwpt->obj.type == IOMMUFD_OBJ_HWPT_NESTED))
		fault = iommufd_hwpt_fault(hwpt);
	if (!fault) {
		rc = -ENODEV;
		goto out_unlock;
	}

	g = isim_kzalloc(sizeof(*g) + sizeof(g->faults[0]));
	if (!g) {
		/* The abort group: the device hears FAILURE. */
		rc = -ENOMEM;
		goto out_unlock;
	}
	link_init(&g->link);
	g->handle = idev;
	g->fault_count = 1;
	g->faults[0] = (struct iommu_hwpt_pgfault){
		.flags = IOMMU_PGFAULT_FLAGS_LAST_PAGE |
			 (pasid ? IOMMU_PGFAULT_FLAGS_PASID_VALID : 0),
		.dev_id = idev->obj.id,
		.pasid = pasid,
		.grpid = grpid,
		.perm = perm,
		.addr = addr,
	};
	pthread_mutex_lock(&fault->mutex);
	group_add_tail(g, &fault->deliver);
	fault->num_deliver++;
	fault_update_poll(fault);
	pthread_mutex_unlock(&fault->mutex);

out_unlock:
	pthread_mutex_unlock(&dev->group_lock);
	isim_trace(&dev->m->trace, "fault.report",
		   "dev=%s pasid=%u grpid=%u addr=%#llx fault=%u rc=%d",
		   dev->name, pasid, grpid, (unsigned long long)addr,
		   fault ? fault->obj.id : 0, rc);
	return rc;
}

/*
 * iommufd_auto_response_faults(): @idev stops using @hwpt (detach or
 * replace), so every group that came through that attachment, queued or
 * read and unanswered, is answered INVALID and dropped.  The caller holds
 * the device's group lock and still holds @hwpt.
 */
void iommufd_fault_auto_response(struct iommufd_hw_pagetable *hwpt,
				 struct iommufd_device *idev)
{
	struct iommufd_fault *fault = iommufd_hwpt_fault(hwpt);
	struct iopf_link *l, *next;
	struct iopf_group *g;
	uint32_t cookie;

	if (!fault)
		return;
	pthread_mutex_lock(&fault->mutex);
	for (l = fault->deliver.next; l != &fault->deliver; l = next) {
		next = l->next;
		g = link_group(l);
		if (g->handle != idev)
			continue;
		group_del(g);
		fault->num_deliver--;
		group_respond_free(fault, g, IOMMUFD_PAGE_RESP_INVALID);
	}
	isim_idr_for_each(&fault->response, cookie, g) {
		if (g->handle != idev)
			continue;
		isim_idr_erase(&fault->response, cookie);
		group_respond_free(fault, g, IOMMUFD_PAGE_RESP_INVALID);
	}
	fault_update_poll(fault);
	pthread_mutex_unlock(&fault->mutex);
}

/*
 * IOMMU_TEST_OP_TRIGGER_IOPF: a page request from the device, as the
 * selftest builds it (LAST_PAGE, PASID_VALID for a PASID).  Succeeds
 * whether or not a handler took it, like upstream.
 */
int iommufd_test_trigger_iopf(struct iommufd_ucmd *ucmd)
{
	struct iommu_test_cmd *cmd = ucmd->cmd;
	struct iommufd_device *idev;

	idev = iommufd_get_device(ucmd->ictx, cmd->trigger_iopf.dev_id);
	if (IS_ERR(idev))
		return (int)PTR_ERR(idev);
	iommufd_report_device_fault(idev->dev, cmd->trigger_iopf.pasid,
				    cmd->trigger_iopf.grpid,
				    cmd->trigger_iopf.perm,
				    cmd->trigger_iopf.addr);
	iommufd_put_object(ucmd->ictx, &idev->obj);
	return 0;
}
