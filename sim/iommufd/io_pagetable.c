/*
 * The io_pagetable: which IOVA ranges are mapped (areas), which may never be
 * (reserved) and which userspace wants kept free for automatic allocation
 * (allowed); the domains and accesses attached to it and the IOVA alignment
 * they impose.  Check orders and errno values follow spec/core.md §4.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <linux/iommufd.h>

#include "sim/iommufd/domain.h"
#include "sim/iommufd/io_pagetable.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/lib/fault.h"

#define ACCESS_LIST_MAX 0xffffu

struct iopt_reserved {
	struct isim_itree_node node;
	void *owner;
};

/* One piece of a mapping: a byte range of a pages object and its area. */
struct iopt_pages_list {
	struct iopt_pages *pages;
	struct iopt_area *area;
	uint64_t start_byte;
	uint64_t length;
};

static inline uint64_t iopt_page_size(const struct io_pagetable *iopt)
{
	return iopt->m->cfg.page_size;
}

void iopt_init_table(struct io_pagetable *iopt, struct isim_machine *m)
{
	pthread_rwlock_init(&iopt->domains_rwsem, NULL);
	pthread_rwlock_init(&iopt->iova_rwsem, NULL);
	pthread_mutex_init(&iopt->access_list_lock, NULL);
	isim_itree_init(&iopt->area_itree);
	isim_itree_init(&iopt->allowed_itree);
	isim_itree_init(&iopt->reserved_itree);
	isim_idr_init(&iopt->access_list);
	iopt->domains = NULL;
	iopt->next_domain_id = 0;
	iopt->domains_cap = 0;
	iopt->disable_large_pages = false;
	iopt->iova_alignment = 1;
	iopt->m = m;
}

/* Allowed ranges are bare tree nodes allocated one by one. */
void iopt_free_allowed(struct isim_itree *t)
{
	struct isim_itree_node *n;

	while ((n = isim_itree_first(t))) {
		isim_itree_remove(t, n);
		free(n);
	}
}

static void __iopt_remove_reserved_iova(struct io_pagetable *iopt, void *owner);

void iopt_destroy_table(struct io_pagetable *iopt)
{
	iopt_free_allowed(&iopt->allowed_itree);
	/* Ranges reserved by IOMMU_TEST_OP_ADD_RESERVED have no owner. */
	__iopt_remove_reserved_iova(iopt, NULL);
	ISIM_WARN_ON(iopt->m, !isim_itree_empty(&iopt->reserved_itree) ||
			      !isim_itree_empty(&iopt->area_itree) ||
			      iopt->next_domain_id ||
			      !isim_idr_empty(&iopt->access_list));
	free(iopt->domains);
	isim_idr_destroy(&iopt->access_list);
	pthread_mutex_destroy(&iopt->access_list_lock);
	pthread_rwlock_destroy(&iopt->iova_rwsem);
	pthread_rwlock_destroy(&iopt->domains_rwsem);
}

struct iopt_area *iopt_area_iter_first(struct io_pagetable *iopt,
				       uint64_t start, uint64_t last)
{
	return iopt_area_from_node(
		isim_itree_iter_first(&iopt->area_itree, start, last));
}

struct iopt_area *iopt_area_iter_next(struct iopt_area *area, uint64_t start,
				      uint64_t last)
{
	return iopt_area_from_node(isim_itree_iter_next(&area->node, start, last));
}

struct iopt_area *iopt_area_contig_init(struct iopt_area_contig_iter *iter,
					struct io_pagetable *iopt,
					uint64_t iova, uint64_t last_iova)
{
	iter->cur_iova = iova;
	iter->last_iova = last_iova;
	iter->area = iopt_area_iter_first(iopt, iova, iova);
	if (!iter->area || !iter->area->pages) {
		iter->area = NULL;
		return NULL;
	}
	return iter->area;
}

struct iopt_area *iopt_area_contig_next(struct iopt_area_contig_iter *iter)
{
	uint64_t last = iopt_area_last_iova(iter->area);

	if (last >= iter->last_iova)
		return NULL;
	iter->cur_iova = last + 1;
	iter->area = iopt_area_iter_next(iter->area, iter->cur_iova,
					 iter->last_iova);
	if (!iter->area || iopt_area_iova(iter->area) != iter->cur_iova ||
	    !iter->area->pages) {
		/* Not done: keep area non-NULL only for a real continuation. */
		iter->area = NULL;
		return NULL;
	}
	return iter->area;
}

static uint64_t roundup_pow_of_two(uint64_t v)
{
	return v <= 1 ? 1 : 1ull << (64 - __builtin_clzll(v - 1));
}

/* The spec's "fits": candidate start in @out (§4.5 step 7). */
static bool hole_fits(uint64_t s, uint64_t l, uint64_t align,
		      uint64_t page_offset, uint64_t length, uint64_t *out)
{
	uint64_t a;

	if (s > UINT64_MAX - (align - 1))
		return false;
	a = ((s + align - 1) & ~(align - 1)) | page_offset;
	if (a >= l || l - a < length - 1)
		return false;
	*out = a;
	return true;
}

static bool window_alloc(struct io_pagetable *iopt, uint64_t s, uint64_t l,
			 uint64_t align, uint64_t page_offset, uint64_t length,
			 uint64_t *iova)
{
	struct isim_itree_span_iter span;
	uint64_t first;

	if (!hole_fits(s, l, align, page_offset, length, &first))
		return false;
	isim_itree_for_each_span2(&span, &iopt->reserved_itree,
				  &iopt->area_itree, first & ~(align - 1), l) {
		if (span.is_hole &&
		    hole_fits(span.start_hole, span.last_hole, align,
			      page_offset, length, iova))
			return true;
	}
	return false;
}

/* Automatic IOVA allocation, spec/core.md §4.5. */
static int iopt_alloc_iova(struct io_pagetable *iopt, uint64_t *iova,
			   uint64_t addr, uint64_t length)
{
	uint64_t ps = iopt_page_size(iopt);
	uint64_t page_offset = addr % ps;
	uint64_t max_align = iopt->m->cfg.no_thp ? ps : ps * (ps / 8);
	uint64_t win_s = ps, win_l = UINT64_MAX - ps;
	struct isim_itree_span_iter allowed;
	uint64_t align;

	if (!length || length >= UINT64_MAX / 2)
		return -EOVERFLOW;
	align = roundup_pow_of_two(length);
	if (addr && (addr & -addr) < align)
		align = addr & -addr;
	if (align >= max_align)
		align = max_align;
	if (align < iopt->iova_alignment)
		return -EINVAL;

	if (isim_itree_empty(&iopt->allowed_itree))
		return window_alloc(iopt, win_s, win_l, align, page_offset,
				    length, iova) ? 0 : -ENOSPC;
	/* Spans, not nodes: allowed ranges that touch are one window. */
	isim_itree_for_each_span(&allowed, &iopt->allowed_itree, win_s, win_l) {
		if (!allowed.is_hole &&
		    window_alloc(iopt, allowed.start_used, allowed.last_used,
				 align, page_offset, length, iova))
			return 0;
	}
	return -ENOSPC;
}

static int iopt_check_iova(struct io_pagetable *iopt, uint64_t iova,
			   uint64_t length)
{
	uint64_t last;

	if (iova % iopt->iova_alignment)
		return -EINVAL;
	if (iova + (length - 1) < iova)
		return -EOVERFLOW;
	last = iova + length - 1;
	if (isim_itree_iter_first(&iopt->reserved_itree, iova, last))
		return -EINVAL;
	if (isim_itree_iter_first(&iopt->area_itree, iova, last))
		return -EEXIST;
	return 0;
}

/* Claim [iova, iova+len) for @elm with pages still NULL (§4.4 step 8). */
static int iopt_insert_area(struct io_pagetable *iopt, struct iopt_area *area,
			    struct iopt_pages *pages, uint64_t iova,
			    uint64_t start_byte, uint64_t length, int prot)
{
	uint64_t ps = iopt_page_size(iopt);

	if ((prot & IOMMU_WRITE) && !pages->writable)
		return -EPERM;
	area->iommu_prot = prot;
	area->page_offset = start_byte % ps;
	if (area->page_offset % iopt->iova_alignment)
		return -EINVAL;
	if (start_byte + length - 1 < start_byte)
		return -EOVERFLOW;
	area->node.start = iova;
	area->node.last = iova + length - 1;
	area->pages_node.start = start_byte / ps;
	area->pages_node.last = (start_byte + length - 1) / ps;
	if (ISIM_WARN_ON(iopt->m, area->pages_node.last >= pages->npages))
		return -EOVERFLOW;
	area->iopt = iopt;
	isim_itree_insert(&iopt->area_itree, &area->node);
	isim_trace(&iopt->m->trace, "iopt.area_insert",
		   "ioas=%u iova=%#llx last=%#llx", ioas_of_iopt(iopt)->obj.id,
		   (unsigned long long)iova, (unsigned long long)area->node.last);
	return 0;
}

static uint64_t pages_source_addr(const struct iopt_pages *pages,
				  uint64_t start_byte)
{
	return (pages->type == IOPT_ADDRESS_USER ? pages->uptr : pages->start) +
	       start_byte;
}

static void iopt_abort_areas(struct io_pagetable *iopt,
			     struct iopt_pages_list *elms, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!elms[i].area)
			continue;
		if (elms[i].area->iopt)
			isim_itree_remove(&iopt->area_itree,
					  &elms[i].area->node);
		if (elms[i].area->iopt)
			isim_trace(&iopt->m->trace, "iopt.area_remove",
				   "ioas=%u iova=%#llx last=%#llx why=abort",
				   ioas_of_iopt(iopt)->obj.id,
				   (unsigned long long)elms[i].area->node.start,
				   (unsigned long long)elms[i].area->node.last);
		free(elms[i].area);
		elms[i].area = NULL;
	}
}

/*
 * MAP steps 6-10 for a list of pieces placed back to back from *iova: claim
 * the IOVA, load the pieces into the domains, then publish.  On success the
 * areas own the list's pages references.
 */
static int iopt_map_pages(struct io_pagetable *iopt,
			  struct iopt_pages_list *elms, size_t n,
			  uint64_t length, uint64_t *iova, int prot,
			  unsigned flags)
{
	uint64_t cur;
	size_t i, filled = 0;
	int rc = 0;

	for (i = 0; i < n; i++) {
		elms[i].area = isim_kzalloc(sizeof(*elms[i].area));
		if (!elms[i].area) {
			iopt_abort_areas(iopt, elms, i);
			return -ENOMEM;
		}
	}
	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	if (length % iopt->iova_alignment)
		rc = -EINVAL;
	else if (flags & IOPT_ALLOC_IOVA)
		rc = iopt_alloc_iova(iopt, iova,
				     pages_source_addr(elms[0].pages,
						       elms[0].start_byte),
				     length);
	else
		rc = iopt_check_iova(iopt, *iova, length);
	for (i = 0, cur = *iova; !rc && i < n; cur += elms[i].length, i++)
		rc = iopt_insert_area(iopt, elms[i].area, elms[i].pages, cur,
				      elms[i].start_byte, elms[i].length, prot);
	if (rc) {
		iopt_abort_areas(iopt, elms, n);
		pthread_rwlock_unlock(&iopt->iova_rwsem);
		return rc;
	}
	pthread_rwlock_unlock(&iopt->iova_rwsem);

	pthread_rwlock_rdlock(&iopt->domains_rwsem);
	for (; filled < n; filled++) {
		rc = iopt_area_fill_domains(elms[filled].area,
					    elms[filled].pages);
		if (rc)
			break;
	}
	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	if (rc) {
		while (filled--)
			iopt_area_unfill_domains(elms[filled].area,
						 elms[filled].pages);
		iopt_abort_areas(iopt, elms, n);
	} else {
		for (i = 0; i < n; i++) {
			elms[i].area->pages = elms[i].pages;
			elms[i].pages = NULL;
			elms[i].area = NULL;
		}
	}
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	pthread_rwlock_unlock(&iopt->domains_rwsem);
	return rc;
}

/* Map one new pages object whose first byte is @start_byte into its page. */
static int iopt_map_common(struct io_pagetable *iopt, struct iopt_pages *pages,
			   uint64_t start_byte, uint64_t *iova,
			   uint64_t length, int prot, unsigned flags,
			   uint8_t ctx_account_mode)
{
	struct iopt_pages_list elm = {
		.pages = pages,
		.start_byte = start_byte,
		.length = length,
	};
	int rc;

	/* A context in MM mode charges the mm instead of the user. */
	if (ctx_account_mode == IOPT_PAGES_ACCOUNT_MM &&
	    pages->account_mode == IOPT_PAGES_ACCOUNT_USER)
		pages->account_mode = IOPT_PAGES_ACCOUNT_MM;
	rc = iopt_map_pages(iopt, &elm, 1, length, iova, prot, flags);
	if (elm.pages)
		iopt_put_pages(elm.pages);
	return rc;
}

int iopt_map_user_pages(struct io_pagetable *iopt, uint64_t *iova, void *uptr,
			uint64_t length, int iommu_prot, unsigned flags,
			uint8_t ctx_account_mode)
{
	struct iopt_pages *pages;

	pages = iopt_alloc_user_pages(iopt->m, uptr, length,
				      iommu_prot & IOMMU_WRITE);
	if (IS_ERR(pages))
		return (int)PTR_ERR(pages);
	return iopt_map_common(iopt, pages,
			       (uint64_t)(uintptr_t)uptr % iopt_page_size(iopt),
			       iova, length, iommu_prot, flags,
			       ctx_account_mode);
}

int iopt_map_file_pages(struct io_pagetable *iopt, uint64_t *iova, int fd,
			uint64_t start, uint64_t length, int iommu_prot,
			unsigned flags, uint8_t ctx_account_mode)
{
	struct iopt_pages *pages;

	pages = iopt_alloc_file_pages(iopt->m, fd, start, length,
				      iommu_prot & IOMMU_WRITE);
	if (IS_ERR(pages))
		return (int)PTR_ERR(pages);
	return iopt_map_common(iopt, pages, start % iopt_page_size(iopt), iova,
			       length, iommu_prot, flags, ctx_account_mode);
}

/* Collect the pieces of [src_iova, +length) in @src for COPY (§4.7 step 5). */
static int iopt_get_pages(struct io_pagetable *src, uint64_t iova,
			  uint64_t length, struct iopt_pages_list **out,
			  size_t *nout)
{
	struct iopt_area_contig_iter iter;
	struct iopt_pages_list *elms = NULL;
	uint64_t last_iova, ps = iopt_page_size(src);
	struct iopt_area *area;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (!length)
		return -EINVAL;
	if (iova + (length - 1) < iova)
		return -EOVERFLOW;
	last_iova = iova + length - 1;

	pthread_rwlock_rdlock(&src->iova_rwsem);
	iopt_for_each_contig_area(&iter, area, src, iova, last_iova) {
		uint64_t last = iopt_area_contig_last(&iter);

		if (n == cap) {
			struct iopt_pages_list *grown;

			cap = cap ? cap * 2 : 4;
			grown = isim_should_fail() ? NULL :
				realloc(elms, cap * sizeof(*elms));
			if (!grown) {
				rc = -ENOMEM;
				break;
			}
			elms = grown;
		}
		refcount_inc(&area->pages->kref);
		elms[n++] = (struct iopt_pages_list){
			.pages = area->pages,
			.start_byte = iopt_area_start_byte(area, iter.cur_iova,
							   ps),
			.length = last - iter.cur_iova + 1,
		};
	}
	if (!rc && !iopt_area_contig_done(&iter))
		rc = -ENOENT;
	pthread_rwlock_unlock(&src->iova_rwsem);
	if (rc) {
		while (n--)
			iopt_put_pages(elms[n].pages);
		free(elms);
		return rc;
	}
	*out = elms;
	*nout = n;
	return 0;
}

int iopt_copy_collect(struct io_pagetable *src, uint64_t src_iova,
		      uint64_t length, struct iopt_copy_list *list)
{
	return iopt_get_pages(src, src_iova, length, &list->elms, &list->n);
}

int iopt_copy_map(struct io_pagetable *dst, struct iopt_copy_list *list,
		  uint64_t length, uint64_t *dst_iova, int iommu_prot,
		  unsigned flags)
{
	return iopt_map_pages(dst, list->elms, list->n, length, dst_iova,
			      iommu_prot, flags);
}

void iopt_copy_release(struct iopt_copy_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		if (list->elms[i].pages)
			iopt_put_pages(list->elms[i].pages);
	free(list->elms);
}

/* The unmap loop of spec/core.md §4.8 over [start, last]. */
static int iopt_unmap_iova_range(struct io_pagetable *iopt, uint64_t start,
				 uint64_t last, uint64_t *unmapped)
{
	uint64_t done = 0;
	unsigned tries = 0;
	struct iopt_area *area;
	int rc = 0;

again:
	pthread_rwlock_rdlock(&iopt->domains_rwsem);
	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	while ((area = iopt_area_iter_first(iopt, start, last))) {
		uint64_t area_first = iopt_area_iova(area);
		uint64_t area_last = iopt_area_last_iova(area);
		struct iopt_pages *pages = area->pages;

		if (!pages || area->num_locks) {
			rc = -EBUSY;
			isim_trace(&iopt->m->trace, "iopt.unmap_busy",
				   "ioas=%u iova=%#llx last=%#llx locks=%u",
				   ioas_of_iopt(iopt)->obj.id,
				   (unsigned long long)area_first,
				   (unsigned long long)area_last,
				   (unsigned)area->num_locks);
			break;
		}
		if (area_first < start || area_last > last) {
			rc = -ENOENT;
			break;
		}
		if (area_first != start)
			tries = 0;
		if (area->num_accesses) {
			uint64_t length = iopt_area_length(area);

			start = area_first;
			area->prevent_access = true;
			pthread_rwlock_unlock(&iopt->iova_rwsem);
			pthread_rwlock_unlock(&iopt->domains_rwsem);
			iommufd_access_notify_unmap(iopt, area_first, length);
			if (ISIM_WARN_ON(iopt->m, ++tries > 100))
				return -EDEADLOCK;
			goto again;
		}
		area->pages = NULL;
		pthread_rwlock_unlock(&iopt->iova_rwsem);
		iopt_area_unfill_domains(area, pages);
		pthread_rwlock_wrlock(&iopt->iova_rwsem);
		isim_itree_remove(&iopt->area_itree, &area->node);
		isim_trace(&iopt->m->trace, "iopt.area_remove",
			   "ioas=%u iova=%#llx last=%#llx why=unmap",
			   ioas_of_iopt(iopt)->obj.id,
			   (unsigned long long)area_first,
			   (unsigned long long)area_last);
		done += iopt_area_length(area);
		free(area);
		iopt_put_pages(pages);
		if (area_last == UINT64_MAX)
			break;
	}
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	pthread_rwlock_unlock(&iopt->domains_rwsem);
	*unmapped = done;
	return rc;
}

int iopt_unmap_iova(struct io_pagetable *iopt, uint64_t iova, uint64_t length,
		    uint64_t *unmapped)
{
	if (!length)
		return -EINVAL;
	if (iova + (length - 1) < iova)
		return -EOVERFLOW;
	return iopt_unmap_iova_range(iopt, iova, iova + length - 1, unmapped);
}

int iopt_unmap_all(struct io_pagetable *iopt, uint64_t *unmapped)
{
	return iopt_unmap_iova_range(iopt, 0, UINT64_MAX, unmapped);
}

int iopt_set_allow_iova(struct io_pagetable *iopt, struct isim_itree *allowed)
{
	struct isim_itree old;
	struct isim_itree_node *n;

	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	isim_itree_for_each(n, allowed) {
		if (isim_itree_iter_first(&iopt->reserved_itree, n->start,
					  n->last)) {
			pthread_rwlock_unlock(&iopt->iova_rwsem);
			return -EADDRINUSE;
		}
	}
	old = iopt->allowed_itree;
	iopt->allowed_itree = *allowed;
	*allowed = old;
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	iopt_free_allowed(allowed);
	return 0;
}

/* Caller holds iova_rwsem for write. */
static int __iopt_reserve_iova(struct io_pagetable *iopt, uint64_t start,
			       uint64_t last, void *owner)
{
	struct iopt_reserved *r;

	if (isim_itree_iter_first(&iopt->area_itree, start, last) ||
	    isim_itree_iter_first(&iopt->allowed_itree, start, last))
		return -EADDRINUSE;
	r = isim_kzalloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->node.start = start;
	r->node.last = last;
	r->owner = owner;
	isim_itree_insert(&iopt->reserved_itree, &r->node);
	return 0;
}

static void __iopt_remove_reserved_iova(struct io_pagetable *iopt, void *owner)
{
	struct isim_itree_node *n = isim_itree_first(&iopt->reserved_itree);

	while (n) {
		struct iopt_reserved *r =
			isim_container_of(n, struct iopt_reserved, node);

		n = isim_itree_next(n);
		if (r->owner == owner) {
			isim_itree_remove(&iopt->reserved_itree, &r->node);
			free(r);
		}
	}
}

int iopt_reserve_iova(struct io_pagetable *iopt, uint64_t start, uint64_t last,
		      void *owner)
{
	int rc;

	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	rc = __iopt_reserve_iova(iopt, start, last, owner);
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	return rc;
}

void iopt_remove_reserved_iova(struct io_pagetable *iopt, void *owner)
{
	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	__iopt_remove_reserved_iova(iopt, owner);
	pthread_rwlock_unlock(&iopt->iova_rwsem);
}

/*
 * The alignment the IOAS needs with its current domains and accesses plus
 * @extra (0: none): §4.2.  Caller holds both rwsems for write.
 */
static uint64_t iopt_needed_alignment(struct io_pagetable *iopt, uint64_t extra)
{
	uint64_t align = iopt->disable_large_pages ? iopt_page_size(iopt) : 1;
	struct iommufd_access *access;
	uint32_t id;

	for (unsigned i = 0; i < iopt->next_domain_id; i++) {
		uint64_t pg = iommufd_domain_min_pgsize(iopt->domains[i]);

		if (pg > align)
			align = pg;
	}
	pthread_mutex_lock(&iopt->access_list_lock);
	isim_idr_for_each(&iopt->access_list, id, access)
		if (access->iova_alignment > align)
			align = access->iova_alignment;
	pthread_mutex_unlock(&iopt->access_list_lock);
	return extra > align ? extra : align;
}

/* Set the alignment, or -EADDRINUSE when an area does not conform. */
static int iopt_apply_alignment(struct io_pagetable *iopt, uint64_t align)
{
	struct isim_itree_node *n;

	if (align > iopt->iova_alignment) {
		isim_itree_for_each(n, &iopt->area_itree) {
			struct iopt_area *area = iopt_area_from_node(n);

			if (iopt_area_iova(area) % align ||
			    iopt_area_length(area) % align ||
			    area->page_offset % align)
				return -EADDRINUSE;
		}
	}
	iopt->iova_alignment = align;
	return 0;
}

static void iopt_lock_all(struct io_pagetable *iopt)
{
	pthread_rwlock_wrlock(&iopt->domains_rwsem);
	pthread_rwlock_wrlock(&iopt->iova_rwsem);
}

static void iopt_unlock_all(struct io_pagetable *iopt)
{
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	pthread_rwlock_unlock(&iopt->domains_rwsem);
}

int iopt_table_add_domain(struct io_pagetable *iopt,
			  struct iommufd_domain *domain,
			  const struct iommufd_domain_geometry *geo)
{
	uint64_t pgsize = iommufd_domain_min_pgsize(domain);
	uint64_t old_align = iopt->iova_alignment;
	struct isim_itree_node *n, *failed = NULL;
	int rc;

	iopt_lock_all(iopt);
	for (unsigned i = 0; i < iopt->next_domain_id; i++)
		if (ISIM_WARN_ON(iopt->m, iopt->domains[i] == domain)) {
			rc = -EINVAL;
			goto out_unlock;
		}
	if (pgsize > iopt_page_size(iopt)) {
		rc = -EINVAL;
		goto out_unlock;
	}
	rc = iopt_apply_alignment(iopt, iopt_needed_alignment(iopt, pgsize));
	if (rc)
		goto out_unlock;
	if (geo->aperture_start)
		rc = __iopt_reserve_iova(iopt, 0, geo->aperture_start - 1,
					 domain);
	if (!rc && geo->aperture_last != UINT64_MAX)
		rc = __iopt_reserve_iova(iopt, geo->aperture_last + 1,
					 UINT64_MAX, domain);
	if (rc)
		goto err_reserved;
	if (iopt->next_domain_id == iopt->domains_cap) {
		unsigned cap = iopt->domains_cap ? iopt->domains_cap * 2 : 4;
		struct iommufd_domain **grown =
			isim_should_fail() ? NULL :
			realloc(iopt->domains, cap * sizeof(*grown));

		if (!grown) {
			rc = -ENOMEM;
			goto err_reserved;
		}
		iopt->domains = grown;
		iopt->domains_cap = cap;
	}
	isim_itree_for_each(n, &iopt->area_itree) {
		rc = iopt_area_fill_domain(iopt_area_from_node(n), domain);
		if (rc) {
			failed = n;
			goto err_unfill;
		}
	}
	iopt->domains[iopt->next_domain_id++] = domain;
	iopt_unlock_all(iopt);
	return 0;

err_unfill:
	isim_itree_for_each(n, &iopt->area_itree) {
		struct iopt_area *area = iopt_area_from_node(n);

		if (n == failed)
			break;
		if (iopt->next_domain_id)
			iopt_area_unmap_domain(area, domain);
		else
			iopt_area_unfill_domain(area, area->pages, domain);
	}
err_reserved:
	__iopt_remove_reserved_iova(iopt, domain);
	iopt->iova_alignment = old_align;
out_unlock:
	iopt_unlock_all(iopt);
	return rc;
}

void iopt_table_remove_domain(struct io_pagetable *iopt,
			      struct iommufd_domain *domain)
{
	struct isim_itree_node *n;
	unsigned idx;

	iopt_lock_all(iopt);
	for (idx = 0; idx < iopt->next_domain_id; idx++)
		if (iopt->domains[idx] == domain)
			break;
	if (ISIM_WARN_ON(iopt->m, idx == iopt->next_domain_id))
		goto out_unlock;
	/* Keep the array dense: the tail entry moves into the hole. */
	iopt->domains[idx] = iopt->domains[--iopt->next_domain_id];
	isim_itree_for_each(n, &iopt->area_itree) {
		struct iopt_area *area = iopt_area_from_node(n);

		if (!area->pages)
			continue;
		if (!iopt->next_domain_id) {
			iopt_area_unfill_domain(area, area->pages, domain);
			continue;
		}
		iopt_area_unmap_domain(area, domain);
		pthread_mutex_lock(&area->pages->mutex);
		if (area->storage_domain == domain)
			area->storage_domain = iopt->domains[0];
		pthread_mutex_unlock(&area->pages->mutex);
	}
	__iopt_remove_reserved_iova(iopt, domain);
	ISIM_WARN_ON(iopt->m, iopt_apply_alignment(iopt,
						   iopt_needed_alignment(iopt, 0)));
out_unlock:
	iopt_unlock_all(iopt);
}

int iopt_add_access(struct io_pagetable *iopt, struct iommufd_access *access)
{
	uint32_t id;
	int rc;

	iopt_lock_all(iopt);
	pthread_mutex_lock(&iopt->access_list_lock);
	rc = isim_idr_alloc(&iopt->access_list, access, 0, ACCESS_LIST_MAX, &id);
	pthread_mutex_unlock(&iopt->access_list_lock);
	if (rc)
		goto out_unlock;
	rc = iopt_apply_alignment(iopt, iopt_needed_alignment(iopt, 0));
	if (rc) {
		pthread_mutex_lock(&iopt->access_list_lock);
		isim_idr_erase(&iopt->access_list, id);
		pthread_mutex_unlock(&iopt->access_list_lock);
		goto out_unlock;
	}
	access->iopt_access_list_id = id;
out_unlock:
	iopt_unlock_all(iopt);
	return rc;
}

void iopt_remove_access(struct io_pagetable *iopt,
			struct iommufd_access *access, uint32_t list_id)
{
	iopt_lock_all(iopt);
	pthread_mutex_lock(&iopt->access_list_lock);
	ISIM_WARN_ON(iopt->m,
		     isim_idr_erase(&iopt->access_list, list_id) != access);
	pthread_mutex_unlock(&iopt->access_list_lock);
	ISIM_WARN_ON(iopt->m, iopt_apply_alignment(iopt,
						   iopt_needed_alignment(iopt, 0)));
	iopt_unlock_all(iopt);
}

int iopt_disable_large_pages(struct io_pagetable *iopt)
{
	int rc = 0;

	iopt_lock_all(iopt);
	if (iopt->disable_large_pages)
		goto out_unlock;
	/* Domains already hold large leaves for existing areas. */
	if (iopt->next_domain_id && !isim_itree_empty(&iopt->area_itree)) {
		rc = -EINVAL;
		goto out_unlock;
	}
	iopt->disable_large_pages = true;
	rc = iopt_apply_alignment(iopt, iopt_needed_alignment(iopt, 0));
	if (rc)
		iopt->disable_large_pages = false;
out_unlock:
	iopt_unlock_all(iopt);
	return rc;
}

void iopt_enable_large_pages(struct io_pagetable *iopt)
{
	iopt_lock_all(iopt);
	iopt->disable_large_pages = false;
	ISIM_WARN_ON(iopt->m, iopt_apply_alignment(iopt,
						   iopt_needed_alignment(iopt, 0)));
	iopt_unlock_all(iopt);
}

#define report(...) (errors += iommufd_report(buf, len, used, __VA_ARGS__))

/* Does every domain translate the area's IOVA to its pinned PFNs? */
static int check_area_domains(struct io_pagetable *iopt, struct iopt_area *area,
			      char *buf, size_t len, size_t *used)
{
	uint64_t ps = iopt_page_size(iopt);
	int errors = 0;

	for (unsigned d = 0; d < iopt->next_domain_id; d++) {
		for (uint64_t idx = iopt_area_index(area);
		     idx <= iopt_area_last_index(area); idx++) {
			uint64_t byte = idx * ps, pfn, pa;
			uint64_t first = iopt_area_index(area) * ps +
					 area->page_offset;
			int prot;

			if (byte < first)
				byte = first;
			iopt_pages_get_pfns(area->pages, idx, idx, &pfn);
			if (iommufd_domain_iova_to_phys(iopt->domains[d],
							iopt_area_iova(area) +
								(byte - first),
							&pa, &prot) ||
			    pa != pfn * ps + byte % ps) {
				report("area [%#llx, %#llx]: domain %u does not map index %llu to its PFN\n",
				       (unsigned long long)iopt_area_iova(area),
				       (unsigned long long)iopt_area_last_iova(area),
				       d, (unsigned long long)idx);
				return errors;
			}
		}
	}
	return errors;
}

/* Invariants 6-10 of spec/core.md §7 for one IOAS; call at quiescence. */
int iopt_check(struct io_pagetable *iopt, char *buf, size_t len, size_t *used)
{
	uint64_t align = iopt->iova_alignment;
	struct isim_itree_node *n;
	uint64_t next_free = 0;
	bool first = true;
	int errors = 0;

	pthread_rwlock_rdlock(&iopt->domains_rwsem);
	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	isim_itree_for_each(n, &iopt->area_itree) {
		struct iopt_area *area = iopt_area_from_node(n);

		if (!first && n->start < next_free)
			report("area [%#llx, %#llx] overlaps its predecessor\n",
			       (unsigned long long)n->start,
			       (unsigned long long)n->last);
		first = false;
		next_free = n->last + 1;
		if (n->start % align || iopt_area_length(area) % align ||
		    area->page_offset % align)
			report("area [%#llx, %#llx] breaks alignment %#llx\n",
			       (unsigned long long)n->start,
			       (unsigned long long)n->last,
			       (unsigned long long)align);
		if (isim_itree_iter_first(&iopt->reserved_itree, n->start,
					  n->last))
			report("area [%#llx, %#llx] intersects a reserved range\n",
			       (unsigned long long)n->start,
			       (unsigned long long)n->last);
		if (!area->pages) {
			report("area [%#llx, %#llx] has no pages\n",
			       (unsigned long long)n->start,
			       (unsigned long long)n->last);
			continue;
		}
		if (iopt_area_last_index(area) >= area->pages->npages)
			report("area [%#llx, %#llx] reaches past its pages\n",
			       (unsigned long long)n->start,
			       (unsigned long long)n->last);
		if (area->num_locks > area->num_accesses)
			report("area [%#llx, %#llx]: %u locks > %u accesses\n",
			       (unsigned long long)n->start,
			       (unsigned long long)n->last, area->num_locks,
			       area->num_accesses);
		if ((area->storage_domain != NULL) != (iopt->next_domain_id > 0))
			report("area [%#llx, %#llx]: storage domain out of step\n",
			       (unsigned long long)n->start,
			       (unsigned long long)n->last);
		else if (area->storage_domain)
			errors += check_area_domains(iopt, area, buf, len, used);
		errors += iopt_pages_check(area->pages, buf, len, used);
	}
	isim_itree_for_each(n, &iopt->allowed_itree)
		if (isim_itree_iter_first(&iopt->reserved_itree, n->start,
					  n->last))
			report("allowed range [%#llx, %#llx] is reserved\n",
			       (unsigned long long)n->start,
			       (unsigned long long)n->last);
	if (align != iopt_needed_alignment(iopt, 0))
		report("IOAS alignment %#llx, domains and accesses need %#llx\n",
		       (unsigned long long)align,
		       (unsigned long long)iopt_needed_alignment(iopt, 0));
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	pthread_rwlock_unlock(&iopt->domains_rwsem);
	return errors;
}
