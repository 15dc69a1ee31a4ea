/*
 * The I/O page table of an IOAS (struct io_pagetable) and the objects that
 * back it: areas (one per mapped IOVA range) and pages (a chunk of user
 * memory or of a memfd, shared by every area that maps a part of it, in any
 * IOAS).  Names follow drivers/iommu/iommufd/io_pagetable.h; the rules are
 * spec/core.md §4 and §5.
 *
 * A page index of a pages object is pinned exactly when it is covered by
 * an access pin (access_itree) or by an area loaded into a domain
 * (domains_itree).  The pinned PFNs are kept as runs keyed by index, like
 * the kernel's pfn batches, never page by page.
 */
#ifndef ISIM_IO_PAGETABLE_H
#define ISIM_IO_PAGETABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sim/lib/idr.h"
#include "sim/lib/interval_tree.h"

struct isim_machine;
struct iommufd_domain;
struct iommufd_access;

/* Kernel prot bits (include/linux/iommu.h). */
enum {
	IOMMU_READ = 1 << 0,
	IOMMU_WRITE = 1 << 1,
	IOMMU_CACHE = 1 << 2,
};

/* Access pin / rw flags (include/linux/iommufd.h). */
enum {
	IOMMUFD_ACCESS_RW_READ = 0,
	IOMMUFD_ACCESS_RW_WRITE = 1 << 0,
	IOMMUFD_ACCESS_RW_KTHREAD = 1 << 1,
};

enum iopt_address_type {
	IOPT_ADDRESS_USER = 0,
	IOPT_ADDRESS_FILE = 1,
};

enum {
	IOPT_PAGES_ACCOUNT_NONE = 0,
	IOPT_PAGES_ACCOUNT_USER = 1,
	IOPT_PAGES_ACCOUNT_MM = 2,
};

struct io_pagetable {
	pthread_rwlock_t domains_rwsem;	/* domain set vs area fill */
	pthread_rwlock_t iova_rwsem;	/* the trees, area->pages */
	struct isim_itree area_itree;
	struct isim_itree allowed_itree;
	struct isim_itree reserved_itree;
	struct iommufd_domain **domains;	/* dense, next_domain_id used */
	unsigned next_domain_id;
	unsigned domains_cap;
	pthread_mutex_t access_list_lock;
	struct isim_idr access_list;	/* IDs 0..65535 */
	bool disable_large_pages;
	uint64_t iova_alignment;
	struct isim_machine *m;
};

struct iopt_area {
	struct isim_itree_node node;		/* IOVA range */
	struct isim_itree_node pages_node;	/* page index range */
	struct io_pagetable *iopt;
	struct iopt_pages *pages;	/* NULL while created or torn down */
	struct iommufd_domain *storage_domain;
	uint64_t page_offset;	/* of the first IOVA inside its page */
	int iommu_prot;
	bool prevent_access;
	unsigned num_accesses;
	unsigned num_locks;	/* pins by internal accesses: unmap → EBUSY */
};

struct iopt_pages {
	atomic_int kref;		/* areas (and transient lists) */
	pthread_mutex_t mutex;
	struct isim_machine *m;
	uint64_t npages;
	uint64_t npinned;
	uint64_t last_npinned;	/* charged to the account */
	enum iopt_address_type type;
	uint64_t uptr;		/* USER: page-aligned-down VA */
	/*
	 * USER: the process whose memory uptr is (the kernel's source mm):
	 * 0 for the process the library runs in, else another process an
	 * ioctl was run for (isim_uaccess_set_pid).
	 */
	pid_t pid;
	int fd;			/* FILE: our duplicate of the memfd */
	uint64_t start;		/* FILE: page-aligned-down file offset */
	bool writable;
	uint8_t account_mode;
	struct isim_itree pfn_runs;	/* struct iopt_pfn_run */
	struct isim_itree access_itree;	/* struct iopt_pages_access */
	struct isim_itree domains_itree;	/* area->pages_node */
};

struct iopt_pages_access {
	struct isim_itree_node node;
	unsigned users;
};

static inline uint64_t iopt_area_iova(const struct iopt_area *a)
{
	return a->node.start;
}

static inline uint64_t iopt_area_last_iova(const struct iopt_area *a)
{
	return a->node.last;
}

static inline uint64_t iopt_area_length(const struct iopt_area *a)
{
	return a->node.last - a->node.start + 1;
}

static inline uint64_t iopt_area_index(const struct iopt_area *a)
{
	return a->pages_node.start;
}

static inline uint64_t iopt_area_last_index(const struct iopt_area *a)
{
	return a->pages_node.last;
}

static inline struct iopt_area *iopt_area_from_node(struct isim_itree_node *n)
{
	return n ? isim_container_of(n, struct iopt_area, node) : NULL;
}

/* Byte offset in the pages object of IOVA @iova inside area @a. */
static inline uint64_t iopt_area_start_byte(const struct iopt_area *a,
					    uint64_t iova, uint64_t page_size)
{
	return iova - iopt_area_iova(a) + a->page_offset +
	       iopt_area_index(a) * page_size;
}

struct iopt_area *iopt_area_iter_first(struct io_pagetable *iopt,
				       uint64_t start, uint64_t last);
struct iopt_area *iopt_area_iter_next(struct iopt_area *area, uint64_t start,
				      uint64_t last);

/*
 * Walk the areas that contiguously cover [start, last], as COPY, pin and rw
 * need: each next area must begin right after the previous one and have
 * live pages.  iopt_area_contig_done() tells whether the walk reached last.
 */
struct iopt_area_contig_iter {
	uint64_t cur_iova;
	uint64_t last_iova;
	struct iopt_area *area;
};
struct iopt_area *iopt_area_contig_init(struct iopt_area_contig_iter *iter,
					struct io_pagetable *iopt,
					uint64_t iova, uint64_t last_iova);
struct iopt_area *iopt_area_contig_next(struct iopt_area_contig_iter *iter);
static inline bool iopt_area_contig_done(const struct iopt_area_contig_iter *it)
{
	return it->area && iopt_area_last_iova(it->area) >= it->last_iova;
}
static inline uint64_t iopt_area_contig_last(const struct iopt_area_contig_iter *it)
{
	uint64_t l = iopt_area_last_iova(it->area);

	return l < it->last_iova ? l : it->last_iova;
}
#define iopt_for_each_contig_area(iter, area, iopt, iova, last_iova)       \
	for ((area) = iopt_area_contig_init((iter), (iopt), (iova),        \
					    (last_iova));                  \
	     (area); (area) = iopt_area_contig_next(iter))

/* io_pagetable.c */
void iopt_init_table(struct io_pagetable *iopt, struct isim_machine *m);
void iopt_destroy_table(struct io_pagetable *iopt);
struct iopt_pages_list;
int iopt_map_user_pages(struct io_pagetable *iopt, uint64_t *iova,
			void *uptr, uint64_t length, int iommu_prot,
			unsigned flags, uint8_t ctx_account_mode);
int iopt_map_file_pages(struct io_pagetable *iopt, uint64_t *iova, int fd,
			uint64_t start, uint64_t length, int iommu_prot,
			unsigned flags, uint8_t ctx_account_mode);
/*
 * IOAS_COPY in the kernel's two steps: take references on the pages
 * behind [src_iova, +length) (the source IOAS may then be released), and
 * map them as consecutive areas of the destination.
 */
struct iopt_copy_list {
	struct iopt_pages_list *elms;
	size_t n;
};
int iopt_copy_collect(struct io_pagetable *src, uint64_t src_iova,
		      uint64_t length, struct iopt_copy_list *list);
int iopt_copy_map(struct io_pagetable *dst, struct iopt_copy_list *list,
		  uint64_t length, uint64_t *dst_iova, int iommu_prot,
		  unsigned flags);
void iopt_copy_release(struct iopt_copy_list *list);
int iopt_unmap_iova(struct io_pagetable *iopt, uint64_t iova, uint64_t length,
		    uint64_t *unmapped);
int iopt_unmap_all(struct io_pagetable *iopt, uint64_t *unmapped);
void iopt_free_allowed(struct isim_itree *allowed);
int iopt_set_allow_iova(struct io_pagetable *iopt,
			struct isim_itree *allowed_iova);
int iopt_reserve_iova(struct io_pagetable *iopt, uint64_t start, uint64_t last,
		      void *owner);
void iopt_remove_reserved_iova(struct io_pagetable *iopt, void *owner);
struct iommufd_domain_geometry;
int iopt_table_add_domain(struct io_pagetable *iopt,
			  struct iommufd_domain *domain,
			  const struct iommufd_domain_geometry *geo);
void iopt_table_remove_domain(struct io_pagetable *iopt,
			      struct iommufd_domain *domain);
int iopt_add_access(struct io_pagetable *iopt, struct iommufd_access *access);
void iopt_remove_access(struct io_pagetable *iopt,
			struct iommufd_access *access, uint32_t list_id);
int iopt_disable_large_pages(struct io_pagetable *iopt);
void iopt_enable_large_pages(struct io_pagetable *iopt);
int iopt_check(struct io_pagetable *iopt, char *buf, size_t len, size_t *used);

/* Flags for iopt_map_*(): */
enum {
	IOPT_ALLOC_IOVA = 1 << 0,	/* choose the IOVA (no FIXED_IOVA) */
};

/* pages.c */
struct iopt_pages *iopt_alloc_user_pages(struct isim_machine *m, void *uptr,
					 uint64_t length, bool writable);
struct iopt_pages *iopt_alloc_file_pages(struct isim_machine *m, int fd,
					 uint64_t start, uint64_t length,
					 bool writable);
void iopt_put_pages(struct iopt_pages *pages);
int iopt_area_fill_domains(struct iopt_area *area, struct iopt_pages *pages);
void iopt_area_unfill_domains(struct iopt_area *area,
			      struct iopt_pages *pages);
int iopt_area_fill_domain(struct iopt_area *area,
			  struct iommufd_domain *domain);
void iopt_area_unfill_domain(struct iopt_area *area, struct iopt_pages *pages,
			     struct iommufd_domain *domain);
void iopt_area_unmap_domain(struct iopt_area *area,
			    struct iommufd_domain *domain);
int iopt_area_add_access(struct iopt_area *area, uint64_t start_index,
			 uint64_t last_index, uint64_t *out_pfns,
			 unsigned flags, bool lock_area);
void iopt_area_remove_access(struct iopt_area *area, uint64_t start_index,
			     uint64_t last_index, bool unlock_area);
int iopt_pages_rw_access(struct iopt_pages *pages, uint64_t start_byte,
			 void *data, uint64_t length, unsigned flags);
/* PFNs of pinned indices [first, last] (all must be pinned). */
void iopt_pages_get_pfns(struct iopt_pages *pages, uint64_t first,
			 uint64_t last, uint64_t *out);
int iopt_pages_check(struct iopt_pages *pages, char *buf, size_t len,
		     size_t *used);

#endif
