/*
 * The access-fd half of IOMMU_TEST_CMD: CREATE_ACCESS makes an emulated
 * device's access (the kernel's iommufd_access, as a VFIO mdev driver
 * would use it) owned by an fd of its own, and ACCESS_PAGES,
 * DESTROY_ACCESS_PAGES, ACCESS_RW and ACCESS_REPLACE_IOAS drive it through
 * that fd.  Pins taken through the fd are remembered as items so that the
 * core's unmap callback, a DESTROY_ACCESS_PAGES or the close of the fd can
 * drop them.  The rules and errno are spec/kselftest.md §5.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include <linux/iommufd.h>
#include <iommufd_test.h>

#include "sim/iommufd/eventq.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/iommufd/selftest.h"
#include "sim/lib/fault.h"
#include "sim/lib/uaccess.h"

/* The kernel caps these so a fuzzer cannot ask for a huge bounce buffer. */
#define SELFTEST_MAX_XFER (16ull * 1024 * 1024)

/* ----------------------------------------------------- access fds */

/*
 * An emulated device's access, owned by an fd as the kernel's
 * "[iommufd_test_staccess]" file owns it: closing the fd unpins what the
 * fd pinned and destroys the access.
 *
 * The fd layer (eventq.h) wants an object to hold and still touches it
 * after the release callback returns.  The access object cannot be that
 * object (the release destroys it), so the fd holds @file, a header that
 * lives outside the table and stands for the kernel's struct file.  After
 * release the staccess is buried and freed once the fd layer has let go
 * of @file (its users count back to 0).
 */
struct selftest_access_item {
	struct selftest_access_item *next;
	uint64_t iova;
	uint64_t length;
	uint32_t id;
};

struct selftest_access {
	struct iommufd_object file;	/* held by the fd; never in a table */
	struct iommufd_access *access;	/* set once the fd is installed */
	/* Pins and unmap callbacks: all of an item's unpin happens under it. */
	pthread_mutex_t lock;
	struct selftest_access_item *items;
	uint32_t next_id;
	struct selftest_access *next_dead;
};

static pthread_mutex_t staccess_dead_lock = PTHREAD_MUTEX_INITIALIZER;
static struct selftest_access *staccess_dead;

/* Free the released staccesses the fd layer is done with. */
static void staccess_reap(void)
{
	struct selftest_access **pp, *s;

	pthread_mutex_lock(&staccess_dead_lock);
	for (pp = &staccess_dead; (s = *pp);) {
		if (refcount_read(&s->file.users)) {
			pp = &s->next_dead;
			continue;
		}
		*pp = s->next_dead;
		free(s);
	}
	pthread_mutex_unlock(&staccess_dead_lock);
}

static void staccess_bury(struct selftest_access *staccess)
{
	pthread_mutex_lock(&staccess_dead_lock);
	staccess->next_dead = staccess_dead;
	staccess_dead = staccess;
	pthread_mutex_unlock(&staccess_dead_lock);
}

/*
 * The core's unmap callback, and our own "unpin everything": drop every
 * item that overlaps [iova, iova + length - 1].  Items are whole pins, so
 * one that straddles the range goes entirely, as in the kernel.
 */
static void staccess_unmap(void *data, uint64_t iova, uint64_t length)
{
	struct selftest_access *staccess = data;
	struct selftest_access_item **pp, *item;
	uint64_t last;

	if (!length)
		return;
	if (__builtin_add_overflow(iova, length - 1, &last))
		last = UINT64_MAX;
	pthread_mutex_lock(&staccess->lock);
	for (pp = &staccess->items; (item = *pp);) {
		if (iova > item->iova + item->length - 1 || last < item->iova) {
			pp = &item->next;
			continue;
		}
		*pp = item->next;
		iommufd_access_unpin_pages(staccess->access, item->iova,
					   item->length);
		free(item);
	}
	pthread_mutex_unlock(&staccess->lock);
}

static const struct iommufd_access_ops staccess_ops_pin = {
	.needs_pin_pages = true,
	.unmap = staccess_unmap,
};

static const struct iommufd_access_ops staccess_ops = {
	.unmap = staccess_unmap,
};

/* Last close of the fd: the kernel file's ->release. */
static void staccess_release(struct iommufd_object *file)
{
	struct selftest_access *staccess =
		isim_container_of(file, struct selftest_access, file);

	if (staccess->access) {
		staccess_unmap(staccess, 0, UINT64_MAX);
		iommufd_access_destroy(staccess->access);
		staccess->access = NULL;
	}
	pthread_mutex_destroy(&staccess->lock);
	staccess_reap();
	staccess_bury(staccess);
}

/* No read or write: the kernel's file has only ->release. */
static const struct iommufd_anon_fd_ops staccess_fops = {
	.release = staccess_release,
};

/*
 * The staccess behind fd @fd of this context, with a short-term reference
 * on its access object (the kernel's fget): a close meanwhile waits in
 * the access destroy until we put it.  -EBADFD for any other fd.
 */
static struct selftest_access *staccess_get(struct iommufd_ctx *ictx,
					    uint32_t fd)
{
	struct selftest_access *staccess = NULL;
	struct iommufd_anon_fd *afd;

	pthread_mutex_lock(&ictx->anon_fds_lock);
	for (afd = ictx->anon_fds; afd; afd = afd->next) {
		if ((uint32_t)afd->efd != fd || afd->ops != &staccess_fops)
			continue;
		staccess = isim_container_of(afd->obj, struct selftest_access,
					     file);
		if (!iommufd_lock_obj(&staccess->access->obj))
			staccess = NULL;
		break;
	}
	pthread_mutex_unlock(&ictx->anon_fds_lock);
	return staccess ? staccess : ERR_PTR(-EBADFD);
}

static void staccess_put(struct iommufd_ctx *ictx,
			 struct selftest_access *staccess)
{
	iommufd_put_object(ictx, &staccess->access->obj);
}

int iommufd_test_create_access(struct iommufd_ucmd *ucmd,
			       struct iommu_test_cmd *cmd)
{
	uint32_t flags = cmd->create_access.flags;
	struct iommufd_ctx *ictx = ucmd->ictx;
	struct selftest_access *staccess;
	struct iommufd_access *access;
	struct iommufd_anon_fd *afd;
	uint32_t access_id;
	int rc;

	if (flags & ~MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES)
		return -EOPNOTSUPP;
	staccess_reap();
	staccess = isim_kzalloc(sizeof(*staccess));
	if (!staccess)
		return -ENOMEM;
	pthread_mutex_init(&staccess->lock, NULL);
	staccess->file.type = IOMMUFD_OBJ_ACCESS;	/* names it in traces */

	access = iommufd_access_create(
		ictx,
		(flags & MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) ?
			&staccess_ops_pin : &staccess_ops,
		staccess, &access_id);
	if (IS_ERR(access)) {
		rc = (int)PTR_ERR(access);
		goto out_free;
	}
	staccess->file.id = access_id;
	afd = iommufd_anon_fd_alloc(ictx, &staccess->file, &staccess_fops);
	if (IS_ERR(afd)) {
		rc = (int)PTR_ERR(afd);
		goto out_destroy;
	}
	rc = iommufd_access_attach(access, cmd->id);
	if (rc)
		goto out_discard;
	cmd->create_access.out_access_fd = (uint32_t)afd->efd;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_discard;
	staccess->access = access;
	iommufd_anon_fd_install(afd);
	return 0;

out_discard:
	/* The access goes first: its unmap callback still uses staccess. */
	iommufd_access_destroy(access);
	iommufd_anon_fd_discard(afd);	/* releases and buries staccess */
	return rc;
out_destroy:
	iommufd_access_destroy(access);
out_free:
	pthread_mutex_destroy(&staccess->lock);
	free(staccess);
	return rc;
}

int iommufd_test_access_replace_ioas(struct iommufd_ucmd *ucmd,
				     struct iommu_test_cmd *cmd)
{
	struct selftest_access *staccess;
	int rc;

	staccess = staccess_get(ucmd->ictx, cmd->id);
	if (IS_ERR(staccess))
		return (int)PTR_ERR(staccess);
	rc = iommufd_access_replace(staccess->access,
				    cmd->access_replace_ioas.ioas_id);
	staccess_put(ucmd->ictx, staccess);
	return rc;
}

/* Every pinned frame must be the frame behind the matching user page. */
static int staccess_check_pages(struct isim_machine *m, uint64_t uptr,
				const uint64_t *pfns, uint64_t npages)
{
	uint64_t ps = m->cfg.page_size;

	for (uint64_t i = 0; i < npages; i++, uptr += ps) {
		uint64_t pfn;
		bool have;
		int rc;

		rc = iommufd_test_user_page_frame(m, uptr, &pfn, &have);
		if (rc)
			return rc;
		if (!have || pfn != pfns[i])
			return -EBADE;
	}
	return 0;
}

/*
 * MOCK_FLAGS_ACCESS_SYZ marks a syzkaller-encoded IOVA (an area number and
 * an offset).  The flag is accepted, but the encoding is not modelled: the
 * IOVA is used as given.
 */
int iommufd_test_access_pages(struct iommufd_ucmd *ucmd,
			      struct iommu_test_cmd *cmd)
{
	uint32_t flags = cmd->access_pages.flags;
	uint64_t iova = cmd->access_pages.iova;
	uint64_t length = cmd->access_pages.length;
	uint64_t uptr = cmd->access_pages.uptr;
	struct iommufd_ctx *ictx = ucmd->ictx;
	uint64_t ps = ictx->m->cfg.page_size, npages, first, end;
	struct selftest_access_item *item;
	struct selftest_access *staccess;
	uint64_t *pfns;
	int rc;

	if (length > SELFTEST_MAX_XFER)
		return -ENOMEM;
	if (flags & ~(MOCK_FLAGS_ACCESS_WRITE | MOCK_FLAGS_ACCESS_SYZ))
		return -EOPNOTSUPP;
	staccess = staccess_get(ictx, cmd->id);
	if (IS_ERR(staccess))
		return (int)PTR_ERR(staccess);
	if (!staccess->access->ops->needs_pin_pages) {
		rc = -EOPNOTSUPP;
		goto out_put;
	}

	/* Pages touched by the range; a wrapping one fails in the pin. */
	first = iova & ~(ps - 1);
	if (__builtin_add_overflow(iova, length, &end))
		end = UINT64_MAX;
	npages = (end - first + ps - 1) / ps;
	/* One spare slot: the core counts pages of the backing, which may
	 * sit at another offset than the IOVA. */
	pfns = isim_kcalloc(npages + 1, sizeof(*pfns));
	if (!pfns) {
		rc = -ENOMEM;
		goto out_put;
	}

	/*
	 * The lock spans pin to item: an unmap callback for this range must
	 * not return before the item it is owed exists and is dropped.
	 */
	pthread_mutex_lock(&staccess->lock);
	rc = iommufd_access_pin_pages(staccess->access, iova, length, pfns,
				      (flags & MOCK_FLAGS_ACCESS_WRITE) ?
					      IOMMUFD_ACCESS_RW_WRITE : 0);
	if (rc)
		goto out_unlock;
	/* A NULL uptr skips the comparison (syzkaller's use). */
	if (uptr) {
		rc = staccess_check_pages(ictx->m, uptr - (iova - first), pfns,
					  npages);
		if (rc)
			goto out_unpin;
	}
	item = isim_kzalloc(sizeof(*item));
	if (!item) {
		rc = -ENOMEM;
		goto out_unpin;
	}
	item->iova = iova;
	item->length = length;
	item->id = staccess->next_id++;
	cmd->access_pages.out_access_pages_id = item->id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc) {
		free(item);
		goto out_unpin;
	}
	item->next = staccess->items;
	staccess->items = item;
	goto out_unlock;

out_unpin:
	iommufd_access_unpin_pages(staccess->access, iova, length);
out_unlock:
	pthread_mutex_unlock(&staccess->lock);
	free(pfns);
out_put:
	staccess_put(ictx, staccess);
	return rc;
}

int iommufd_test_destroy_access_pages(struct iommufd_ucmd *ucmd,
				      struct iommu_test_cmd *cmd)
{
	uint32_t item_id = cmd->destroy_access_pages.access_pages_id;
	struct selftest_access_item **pp, *item;
	struct selftest_access *staccess;
	int rc = -ENOENT;

	staccess = staccess_get(ucmd->ictx, cmd->id);
	if (IS_ERR(staccess))
		return (int)PTR_ERR(staccess);
	pthread_mutex_lock(&staccess->lock);
	for (pp = &staccess->items; (item = *pp); pp = &item->next) {
		if (item->id != item_id)
			continue;
		*pp = item->next;
		iommufd_access_unpin_pages(staccess->access, item->iova,
					   item->length);
		free(item);
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&staccess->lock);
	staccess_put(ucmd->ictx, staccess);
	return rc;
}

/*
 * Real bytes between the caller's buffer and the memory behind the IOVAs,
 * through a bounce buffer as in the kernel.  SLOW_PATH has no separate
 * path here (every copy goes through the program's memory), and SYZ is
 * accepted as for ACCESS_PAGES; neither reaches the core.
 */
int iommufd_test_access_rw(struct iommufd_ucmd *ucmd,
			   struct iommu_test_cmd *cmd)
{
	uint32_t flags = cmd->access_rw.flags;
	uint64_t length = cmd->access_rw.length;
	void *ubuf = u64_to_user_ptr(cmd->access_rw.uptr);
	bool write = flags & MOCK_ACCESS_RW_WRITE;
	struct selftest_access *staccess;
	void *tmp;
	int rc;

	if (length > SELFTEST_MAX_XFER)
		return -ENOMEM;
	if (flags & ~(MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH |
		      MOCK_FLAGS_ACCESS_SYZ))
		return -EOPNOTSUPP;
	staccess = staccess_get(ucmd->ictx, cmd->id);
	if (IS_ERR(staccess))
		return (int)PTR_ERR(staccess);
	tmp = isim_kzalloc(length ? length : 1);
	if (!tmp) {
		rc = -ENOMEM;
		goto out_put;
	}
	if (write) {
		rc = isim_copy_from_user(tmp, ubuf, length);
		if (rc)
			goto out_free;
	}
	rc = iommufd_access_rw(staccess->access, cmd->access_rw.iova, tmp,
			       length, write ? IOMMUFD_ACCESS_RW_WRITE : 0);
	if (!rc && !write)
		rc = isim_copy_to_user(ubuf, tmp, length);
out_free:
	free(tmp);
out_put:
	staccess_put(ucmd->ictx, staccess);
	return rc;
}
