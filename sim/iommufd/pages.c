/*
 * Pages objects: pinning user (or memfd) memory, the PFN runs of what is
 * pinned, access pins, loading areas into paging domains, and the page
 * accounting of spec/core.md §5.5–§5.12.  An index is pinned exactly once
 * however many access pins and domain-loaded areas cover it; it is pinned
 * when the first cover appears and unpinned when the last one goes.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sim/iommufd/domain.h"
#include "sim/iommufd/io_pagetable.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/lib/fault.h"
#include "sim/lib/pfn_run.h"
#include "sim/lib/uaccess.h"
#include "sim/mm/vm.h"

/* Pins are taken from memory in chunks of this many pages. */
#define PIN_CHUNK 4096u

struct iopt_pfn_run {
	struct isim_itree_node node;	/* page indices */
	uint64_t pfn;			/* PFN of node.start */
};

static inline uint64_t page_size_of(const struct iopt_pages *pages)
{
	return pages->m->cfg.page_size;
}

static struct iopt_pages *pages_alloc(struct isim_machine *m, uint64_t start,
				      uint64_t length, bool writable)
{
	uint64_t ps = m->cfg.page_size;
	struct iopt_pages *pages;

	/* The spec's EOVERFLOW/EINVAL order for the source range. */
	if (start + length < start)
		return ERR_PTR(-EOVERFLOW);
	if (!length || length > SIZE_MAX - ps)
		return ERR_PTR(-EINVAL);
	pages = isim_kzalloc(sizeof(*pages));
	if (!pages)
		return ERR_PTR(-ENOMEM);
	atomic_init(&pages->kref, 1);
	pthread_mutex_init(&pages->mutex, NULL);
	pages->m = m;
	pages->npages = (length + (start % ps) + ps - 1) / ps;
	pages->writable = writable;
	pages->account_mode = m->cfg.cap_ipc_lock ? IOPT_PAGES_ACCOUNT_NONE :
						    IOPT_PAGES_ACCOUNT_USER;
	pages->fd = -1;
	isim_itree_init(&pages->pfn_runs);
	isim_itree_init(&pages->access_itree);
	isim_itree_init(&pages->domains_itree);
	return pages;
}

struct iopt_pages *iopt_alloc_user_pages(struct isim_machine *m, void *uptr,
					 uint64_t length, bool writable)
{
	uint64_t va = (uint64_t)(uintptr_t)uptr;
	struct iopt_pages *pages = pages_alloc(m, va, length, writable);

	if (!IS_ERR(pages)) {
		pages->type = IOPT_ADDRESS_USER;
		pages->uptr = va - va % m->cfg.page_size;
		pages->pid = isim_uaccess_pid();
	}
	return pages;
}

struct iopt_pages *iopt_alloc_file_pages(struct isim_machine *m, int fd,
					 uint64_t start, uint64_t length,
					 bool writable)
{
	struct iopt_pages *pages;
	int dupfd;

	if (start + length - 1 < start)
		return ERR_PTR(-EOVERFLOW);
	pages = pages_alloc(m, start, length, writable);
	if (IS_ERR(pages))
		return pages;
	dupfd = isim_should_fail() ? -1 : dup(fd);
	if (dupfd < 0) {
		pthread_mutex_destroy(&pages->mutex);
		free(pages);
		return ERR_PTR(-ENOMEM);
	}
	pages->type = IOPT_ADDRESS_FILE;
	pages->fd = dupfd;
	pages->start = start - start % m->cfg.page_size;
	return pages;
}

void iopt_put_pages(struct iopt_pages *pages)
{
	if (!refcount_dec_and_test(&pages->kref))
		return;
	ISIM_WARN_ON(pages->m, pages->npinned || pages->last_npinned ||
			       !isim_itree_empty(&pages->pfn_runs) ||
			       !isim_itree_empty(&pages->access_itree) ||
			       !isim_itree_empty(&pages->domains_itree));
	if (pages->fd >= 0)
		close(pages->fd);
	pthread_mutex_destroy(&pages->mutex);
	free(pages);
}

int isim_account_update(struct isim_account *acct, int mode, int64_t delta)
{
	uint64_t *locked = mode == IOPT_PAGES_ACCOUNT_MM ? &acct->mm_locked_vm :
							    &acct->user_locked_vm;
	int rc = 0;

	pthread_mutex_lock(&acct->lock);
	if (mode != IOPT_PAGES_ACCOUNT_NONE) {
		if (delta > 0 && acct->limit_pages &&
		    *locked + (uint64_t)delta > acct->limit_pages)
			rc = -ENOMEM;
		else
			*locked += (uint64_t)delta;
	}
	if (!rc)
		acct->pinned_vm += (uint64_t)delta;
	pthread_mutex_unlock(&acct->lock);
	return rc;
}

/*
 * Charge or uncharge the difference between what is pinned and what was
 * charged.  Only a charge can fail (over the memlock limit: -ENOMEM).
 */
static int pages_update_account(struct iopt_pages *pages)
{
	int64_t delta = (int64_t)pages->npinned - (int64_t)pages->last_npinned;
	int rc;

	if (!delta)
		return 0;
	rc = isim_account_update(&pages->m->acct, pages->account_mode, delta);
	if (!rc)
		pages->last_npinned = pages->npinned;
	return rc;
}

static void run_unpin(struct iopt_pages *pages, uint64_t pfn, uint64_t n)
{
	isim_vm_unpin_run(pages->m->vm, pfn, n);
}

/*
 * Record @nruns pinned runs from index @first on.  On failure the runs not
 * recorded are unpinned here and -ENOMEM returned; the recorded ones are
 * the caller's to remove.
 */
static int runs_insert(struct iopt_pages *pages, uint64_t first,
		       const struct isim_pfn_run *runs, size_t nruns)
{
	uint64_t idx = first;

	for (size_t k = 0; k < nruns; k++) {
		struct iopt_pfn_run *run = isim_kzalloc(sizeof(*run));

		if (!run) {
			for (; k < nruns; k++)
				run_unpin(pages, runs[k].pfn, runs[k].npages);
			return -ENOMEM;
		}
		run->node.start = idx;
		run->node.last = idx + runs[k].npages - 1;
		run->pfn = runs[k].pfn;
		isim_itree_insert(&pages->pfn_runs, &run->node);
		isim_trace(&pages->m->trace, "pages.pin", "pfn=%#llx n=%llu",
			   (unsigned long long)run->pfn,
			   (unsigned long long)runs[k].npages);
		idx += runs[k].npages;
	}
	return 0;
}

/*
 * Drop the runs of indices [first, last] and unpin their frames.  Runs that
 * reach outside the range keep their outer parts; splitting one in two
 * takes memory, which an unpin path may not fail for, so that allocation
 * bypasses fault injection.
 */
static void runs_remove(struct iopt_pages *pages, uint64_t first,
			uint64_t last)
{
	struct isim_itree_node *n;

	while ((n = isim_itree_iter_first(&pages->pfn_runs, first, last))) {
		struct iopt_pfn_run *run =
			isim_container_of(n, struct iopt_pfn_run, node);
		uint64_t lo = n->start > first ? n->start : first;
		uint64_t hi = n->last < last ? n->last : last;
		uint64_t old_start = n->start, old_last = n->last;

		run_unpin(pages, run->pfn + (lo - old_start), hi - lo + 1);
		isim_trace(&pages->m->trace, "pages.unpin", "pfn=%#llx n=%llu",
			   (unsigned long long)(run->pfn + (lo - old_start)),
			   (unsigned long long)(hi - lo + 1));
		isim_itree_remove(&pages->pfn_runs, n);
		if (old_start < lo && old_last > hi) {
			struct iopt_pfn_run *tail = calloc(1, sizeof(*tail));

			if (!ISIM_WARN_ON(pages->m, !tail)) {
				tail->node.start = hi + 1;
				tail->node.last = old_last;
				tail->pfn = run->pfn + (hi + 1 - old_start);
				isim_itree_insert(&pages->pfn_runs, &tail->node);
			}
			n->last = lo - 1;
			isim_itree_insert(&pages->pfn_runs, n);
		} else if (old_start < lo) {
			n->last = lo - 1;
			isim_itree_insert(&pages->pfn_runs, n);
		} else if (old_last > hi) {
			run->pfn += hi + 1 - old_start;
			n->start = hi + 1;
			isim_itree_insert(&pages->pfn_runs, n);
		} else {
			free(run);
		}
	}
}

/*
 * The kernel pins user pages through the mm of the process that mapped
 * them (the pages object's source mm), even when another process asks.
 * Frames here are always our own VAs, so the memory of another process
 * (a forked child whose ioctl the preload library ran for it) can only be
 * pinned where the same VA reaches the same memory in both, as it does for
 * a MAP_SHARED mapping made before the fork.  We check only that the other
 * process still exists and has the page mapped (a 1-byte read of it); a
 * process that is gone has no mm, and pinning its memory fails with
 * -EFAULT as in the kernel.  Our own memory needs no check here.
 */
static int pages_check_source(struct iopt_pages *pages, uint64_t va,
			      uint64_t npages)
{
	uint64_t ps = page_size_of(pages);
	struct iovec r[64], l;
	char bytes[64];

	if (!pages->pid)
		return 0;
	while (npages) {
		unsigned n = npages < 64 ? (unsigned)npages : 64;

		for (unsigned i = 0; i < n; i++)
			r[i] = (struct iovec){
				(void *)(uintptr_t)(va + i * ps), 1 };
		l = (struct iovec){ bytes, n };
		if (process_vm_readv(pages->pid, &l, 1, r, n, 0) != (ssize_t)n)
			return -EFAULT;
		va += (uint64_t)n * ps;
		npages -= n;
	}
	return 0;
}

/* Whether every index of [first, last] has a pinned frame. */
static bool pages_all_pinned(struct iopt_pages *pages, uint64_t first,
			     uint64_t last)
{
	struct isim_itree_span_iter span;

	isim_itree_for_each_span(&span, &pages->pfn_runs, first, last)
		if (span.is_hole)
			return false;
	return true;
}

/* Pin indices [first, last] from memory and record their runs. */
static int pages_pin_range(struct iopt_pages *pages, uint64_t first,
			   uint64_t last)
{
	uint64_t ps = page_size_of(pages);
	struct isim_pfn_run *runs;
	uint64_t *pfns, idx;
	size_t nruns;
	int rc = 0;

	pfns = isim_kcalloc(PIN_CHUNK, sizeof(*pfns));
	runs = pfns ? isim_kcalloc(PIN_CHUNK, sizeof(*runs)) : NULL;
	if (!runs) {
		free(pfns);
		return -ENOMEM;
	}
	for (idx = first; idx <= last && !rc;) {
		uint64_t n = last - idx + 1;

		if (n > PIN_CHUNK)
			n = PIN_CHUNK;
		if (pages->type == IOPT_ADDRESS_USER) {
			rc = pages_check_source(pages, pages->uptr + idx * ps,
						n);
			if (!rc)
				rc = isim_vm_pin_runs(pages->m->vm,
						      pages->uptr + idx * ps, n,
						      pages->writable, pfns,
						      runs, &nruns);
		} else {
			rc = isim_vm_pin_file(pages->m->vm, pages->fd,
					      pages->start + idx * ps, n,
					      pages->writable, pfns);
			nruns = rc ? 0 : isim_pfns_to_runs(pfns, n, runs, n);
		}
		if (rc)
			break;
		rc = runs_insert(pages, idx, runs, nruns);
		idx += n;
	}
	free(runs);
	free(pfns);
	if (rc && idx > first)
		runs_remove(pages, first, idx - 1 < last ? idx - 1 : last);
	return rc;
}

/*
 * Make every index of [first, last] pinned: pin the ones no access pin and
 * no domain-loaded area covers yet.  All or nothing, accounting included.
 */
static int pages_pin_uncovered(struct iopt_pages *pages, uint64_t first,
			       uint64_t last)
{
	struct isim_itree_span_iter span;
	uint64_t pinned = 0, failed_at = UINT64_MAX;
	int rc = 0;

	isim_itree_for_each_span2(&span, &pages->access_itree,
				  &pages->domains_itree, first, last) {
		if (!span.is_hole)
			continue;
		rc = pages_pin_range(pages, span.start_hole, span.last_hole);
		if (rc) {
			failed_at = span.start_hole;
			break;
		}
		pinned += span.last_hole - span.start_hole + 1;
	}
	if (!rc) {
		pages->npinned += pinned;
		rc = pages_update_account(pages);
		if (!rc)
			return 0;
		pages->npinned -= pinned;
	}
	isim_itree_for_each_span2(&span, &pages->access_itree,
				  &pages->domains_itree, first, last) {
		if (!span.is_hole)
			continue;
		if (span.start_hole >= failed_at)
			break;
		runs_remove(pages, span.start_hole, span.last_hole);
	}
	return rc;
}

/* Unpin the indices of [first, last] that nothing covers any more. */
static void pages_unpin_uncovered(struct iopt_pages *pages, uint64_t first,
				  uint64_t last)
{
	struct isim_itree_span_iter span;

	isim_itree_for_each_span2(&span, &pages->access_itree,
				  &pages->domains_itree, first, last) {
		if (!span.is_hole)
			continue;
		runs_remove(pages, span.start_hole, span.last_hole);
		pages->npinned -= span.last_hole - span.start_hole + 1;
	}
	/* Uncharging never fails. */
	ISIM_WARN_ON(pages->m, pages_update_account(pages));
}

void iopt_pages_get_pfns(struct iopt_pages *pages, uint64_t first,
			 uint64_t last, uint64_t *out)
{
	struct isim_itree_node *n;
	uint64_t expect = first;

	isim_itree_for_each_overlap(n, &pages->pfn_runs, first, last) {
		struct iopt_pfn_run *run =
			isim_container_of(n, struct iopt_pfn_run, node);
		uint64_t lo = n->start > first ? n->start : first;
		uint64_t hi = n->last < last ? n->last : last;

		ISIM_WARN_ON(pages->m, lo != expect);
		isim_pfn_run_fill(out + (lo - first), run->pfn + (lo - n->start),
				  hi - lo + 1);
		expect = hi + 1;
	}
	ISIM_WARN_ON(pages->m, expect != last + 1);
}

/* Map area bytes backed by the pinned runs into @domain; all or nothing. */
static int area_map_domain(struct iopt_area *area, struct iopt_pages *pages,
			   struct iommufd_domain *domain)
{
	uint64_t ps = page_size_of(pages);
	uint64_t first_byte = iopt_area_index(area) * ps + area->page_offset;
	uint64_t last_byte = first_byte + iopt_area_length(area) - 1;
	int prot = area->iommu_prot & (IOMMU_READ | IOMMU_WRITE);
	struct isim_itree_node *n;
	uint64_t mapped = 0;
	int rc;

	isim_itree_for_each_overlap(n, &pages->pfn_runs, iopt_area_index(area),
				    iopt_area_last_index(area)) {
		struct iopt_pfn_run *run =
			isim_container_of(n, struct iopt_pfn_run, node);
		uint64_t lo = n->start * ps, hi = n->last * ps + ps - 1;

		if (lo < first_byte)
			lo = first_byte;
		if (hi > last_byte)
			hi = last_byte;
		rc = iommufd_domain_map(domain,
					iopt_area_iova(area) + (lo - first_byte),
					run->pfn * ps + (lo - n->start * ps),
					hi - lo + 1, prot);
		if (rc) {
			if (mapped)
				iommufd_domain_unmap(domain,
						     iopt_area_iova(area),
						     mapped);
			return rc;
		}
		mapped += hi - lo + 1;
	}
	ISIM_WARN_ON(pages->m, mapped != iopt_area_length(area));
	return 0;
}

void iopt_area_unmap_domain(struct iopt_area *area,
			    struct iommufd_domain *domain)
{
	iommufd_domain_unmap(domain, iopt_area_iova(area),
			     iopt_area_length(area));
}

int iopt_area_fill_domains(struct iopt_area *area, struct iopt_pages *pages)
{
	struct io_pagetable *iopt = area->iopt;
	unsigned i;
	int rc;

	if (!iopt->next_domain_id)
		return 0;
	pthread_mutex_lock(&pages->mutex);
	rc = pages_pin_uncovered(pages, iopt_area_index(area),
				 iopt_area_last_index(area));
	if (rc)
		goto out_unlock;
	for (i = 0; i < iopt->next_domain_id; i++) {
		rc = area_map_domain(area, pages, iopt->domains[i]);
		if (rc)
			goto err_unmap;
	}
	area->storage_domain = iopt->domains[0];
	isim_itree_insert(&pages->domains_itree, &area->pages_node);
	pthread_mutex_unlock(&pages->mutex);
	return 0;

err_unmap:
	while (i--)
		iopt_area_unmap_domain(area, iopt->domains[i]);
	pages_unpin_uncovered(pages, iopt_area_index(area),
			      iopt_area_last_index(area));
out_unlock:
	pthread_mutex_unlock(&pages->mutex);
	return rc;
}

void iopt_area_unfill_domains(struct iopt_area *area, struct iopt_pages *pages)
{
	struct io_pagetable *iopt = area->iopt;

	if (!area->storage_domain)
		return;
	pthread_mutex_lock(&pages->mutex);
	for (unsigned i = 0; i < iopt->next_domain_id; i++)
		iopt_area_unmap_domain(area, iopt->domains[i]);
	isim_itree_remove(&pages->domains_itree, &area->pages_node);
	area->storage_domain = NULL;
	pages_unpin_uncovered(pages, iopt_area_index(area),
			      iopt_area_last_index(area));
	pthread_mutex_unlock(&pages->mutex);
}

int iopt_area_fill_domain(struct iopt_area *area, struct iommufd_domain *domain)
{
	struct iopt_pages *pages = area->pages;
	bool first = !area->storage_domain;
	int rc;

	pthread_mutex_lock(&pages->mutex);
	if (first) {
		rc = pages_pin_uncovered(pages, iopt_area_index(area),
					 iopt_area_last_index(area));
		if (rc)
			goto out_unlock;
	}
	rc = area_map_domain(area, pages, domain);
	if (rc) {
		if (first)
			pages_unpin_uncovered(pages, iopt_area_index(area),
					      iopt_area_last_index(area));
		goto out_unlock;
	}
	if (first) {
		area->storage_domain = domain;
		isim_itree_insert(&pages->domains_itree, &area->pages_node);
	}
out_unlock:
	pthread_mutex_unlock(&pages->mutex);
	return rc;
}

/* The last domain goes away: unmap it and unpin what only it held. */
void iopt_area_unfill_domain(struct iopt_area *area, struct iopt_pages *pages,
			     struct iommufd_domain *domain)
{
	pthread_mutex_lock(&pages->mutex);
	iopt_area_unmap_domain(area, domain);
	if (area->storage_domain) {
		isim_itree_remove(&pages->domains_itree, &area->pages_node);
		area->storage_domain = NULL;
		pages_unpin_uncovered(pages, iopt_area_index(area),
				      iopt_area_last_index(area));
	}
	pthread_mutex_unlock(&pages->mutex);
}

int iopt_area_add_access(struct iopt_area *area, uint64_t start_index,
			 uint64_t last_index, uint64_t *out_pfns,
			 unsigned flags, bool lock_area)
{
	struct iopt_pages *pages = area->pages;
	struct iopt_pages_access *access;
	struct isim_itree_node *n;
	int rc;

	if ((flags & IOMMUFD_ACCESS_RW_WRITE) && !pages->writable)
		return -EPERM;
	pthread_mutex_lock(&pages->mutex);
	n = isim_itree_find_exact(&pages->access_itree, start_index,
				  last_index);
	if (n) {
		access = isim_container_of(n, struct iopt_pages_access, node);
		access->users++;
		goto out_pfns;
	}
	access = isim_kzalloc(sizeof(*access));
	if (!access) {
		rc = -ENOMEM;
		goto err_unlock;
	}
	rc = pages_pin_uncovered(pages, start_index, last_index);
	if (rc) {
		free(access);
		goto err_unlock;
	}
	access->node.start = start_index;
	access->node.last = last_index;
	access->users = 1;
	isim_itree_insert(&pages->access_itree, &access->node);
out_pfns:
	area->num_accesses++;
	if (lock_area)
		area->num_locks++;
	if (out_pfns)
		iopt_pages_get_pfns(pages, start_index, last_index, out_pfns);
	pthread_mutex_unlock(&pages->mutex);
	return 0;

err_unlock:
	pthread_mutex_unlock(&pages->mutex);
	return rc;
}

void iopt_area_remove_access(struct iopt_area *area, uint64_t start_index,
			     uint64_t last_index, bool unlock_area)
{
	struct iopt_pages *pages = area->pages;
	struct iopt_pages_access *access;
	struct isim_itree_node *n;

	pthread_mutex_lock(&pages->mutex);
	n = isim_itree_find_exact(&pages->access_itree, start_index,
				  last_index);
	/* An unpin must match a pin exactly: anything else is a driver bug. */
	if (ISIM_WARN_ON(pages->m, !n))
		goto out_unlock;
	access = isim_container_of(n, struct iopt_pages_access, node);
	if (ISIM_WARN_ON(pages->m, !area->num_accesses || !access->users))
		goto out_unlock;
	if (unlock_area && !ISIM_WARN_ON(pages->m, !area->num_locks))
		area->num_locks--;
	area->num_accesses--;
	if (--access->users)
		goto out_unlock;
	isim_itree_remove(&pages->access_itree, &access->node);
	pages_unpin_uncovered(pages, start_index, last_index);
	free(access);
out_unlock:
	pthread_mutex_unlock(&pages->mutex);
}

int iopt_pages_rw_access(struct iopt_pages *pages, uint64_t start_byte,
			 void *data, uint64_t length, unsigned flags)
{
	bool write = flags & IOMMUFD_ACCESS_RW_WRITE;
	ssize_t n;

	if (write && !pages->writable)
		return -EPERM;
	if (pages->type == IOPT_ADDRESS_USER) {
		void *uva = (void *)(uintptr_t)(pages->uptr + start_byte);
		pid_t saved = isim_uaccess_set_pid(pages->pid);
		int rc;

		/*
		 * The memory of the process that mapped it, like the kernel's
		 * access through the source mm.  When that process is gone,
		 * the kernel still reaches the pages that are pinned; ours
		 * are our own VAs (see pages_check_source), so copy there.
		 */
		rc = write ? isim_copy_to_user(uva, data, length) :
			     isim_copy_from_user(data, uva, length);
		if (rc && length && pages->pid && kill(pages->pid, 0) &&
		    errno == ESRCH) {
			uint64_t ps = page_size_of(pages);
			bool pinned;

			pthread_mutex_lock(&pages->mutex);
			pinned = pages_all_pinned(pages, start_byte / ps,
						  (start_byte + length - 1) / ps);
			pthread_mutex_unlock(&pages->mutex);
			if (pinned) {
				isim_uaccess_set_pid(0);
				rc = write ? isim_copy_to_user(uva, data, length) :
					     isim_copy_from_user(data, uva, length);
			}
		}
		isim_uaccess_set_pid(saved);
		return rc;
	}
	n = write ? pwrite(pages->fd, data, length,
			   (off_t)(pages->start + start_byte)) :
		    pread(pages->fd, data, length,
			  (off_t)(pages->start + start_byte));
	return n == (ssize_t)length ? 0 : -EFAULT;
}

#define report(...) (errors += iommufd_report(buf, len, used, __VA_ARGS__))

/* Invariants 12, 13 and 15 of spec/core.md §7 for one pages object. */
int iopt_pages_check(struct iopt_pages *pages, char *buf, size_t len,
		     size_t *used)
{
	struct isim_itree_span_iter span;
	struct isim_itree_node *n;
	uint64_t covered = 0;
	int errors = 0;

	pthread_mutex_lock(&pages->mutex);
	isim_itree_for_each_span2(&span, &pages->access_itree,
				  &pages->domains_itree, 0, pages->npages - 1) {
		uint64_t lo = span.is_hole ? span.start_hole : span.start_used;
		uint64_t hi = span.is_hole ? span.last_hole : span.last_used;
		uint64_t runs = 0;

		isim_itree_for_each_overlap(n, &pages->pfn_runs, lo, hi) {
			uint64_t a = n->start > lo ? n->start : lo;
			uint64_t b = n->last < hi ? n->last : hi;

			runs += b - a + 1;
		}
		if (span.is_hole && runs)
			report("pages %p: %llu pinned pages without a holder in [%llu, %llu]\n",
			       (void *)pages, (unsigned long long)runs,
			       (unsigned long long)lo, (unsigned long long)hi);
		if (!span.is_hole) {
			covered += hi - lo + 1;
			if (runs != hi - lo + 1)
				report("pages %p: held indices [%llu, %llu] not all pinned\n",
				       (void *)pages, (unsigned long long)lo,
				       (unsigned long long)hi);
		}
	}
	if (pages->npinned != covered)
		report("pages %p: npinned %llu, holders cover %llu\n",
		       (void *)pages, (unsigned long long)pages->npinned,
		       (unsigned long long)covered);
	if (pages->last_npinned != pages->npinned)
		report("pages %p: charged %llu pages, %llu pinned\n",
		       (void *)pages, (unsigned long long)pages->last_npinned,
		       (unsigned long long)pages->npinned);
	pthread_mutex_unlock(&pages->mutex);
	return errors;
}
