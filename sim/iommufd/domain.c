/*
 * Paging-domain I/O page table (see domain.h).  Tables hold 512 64-bit
 * entries; the table at level L indexes IOVA bits [shift + 9L, shift + 9L + 9)
 * where shift is log2 of the granule, and the root sits at the lowest level
 * whose table covers the aperture.  An entry is empty (0), a pointer to the
 * next table down (tagged with PTE_VALID), or a leaf holding the PA with the
 * valid, leaf, prot and dirty flags in the low 10 bits that a >= 1 KiB
 * granule leaves free.  Leaves live at levels 0..2 only.  Every table but
 * the root has at least one entry in use: unmap releases a table the
 * moment it empties, so a failed map is undone by simply unmapping its
 * range.  Released tables go to a small per-domain stock of spares (they
 * are all-zero again, so reuse costs nothing), which keeps map/unmap churn
 * off the allocator.  Splits of
 * large leaves on partial unmap draw on that stock too, and map tops it up
 * to a reserve first, so the memory a later unmap may need is taken where
 * failure is allowed.  One rwlock serialises writers against concurrent
 * lookups.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

#include "sim/iommufd/domain.h"
#include "sim/lib/fault.h"

#define PT_BITS 9
#define PT_ENTRIES (1u << PT_BITS)
#define PT_MIN_GRANULE_SHIFT 10

#define PTE_VALID ((uint64_t)1 << 0)
#define PTE_LEAF ((uint64_t)1 << 1)
#define PTE_READ ((uint64_t)1 << 2)
#define PTE_WRITE ((uint64_t)1 << 3)
#define PTE_DIRTY ((uint64_t)1 << 4)
#define PTE_LOW_MASK (((uint64_t)1 << PT_MIN_GRANULE_SHIFT) - 1)

/*
 * A partial unmap splits at most its two ends, each through at most two
 * levels (1 GiB-class leaf into a table of 2 MiB-class leaves, one of those
 * into a table of granules), so four spare tables always suffice.
 */
#define SPLIT_RESERVE 4
/* Spare tables kept per domain: 64 KiB, several map/unmap cycles' worth. */
#define SPARE_MAX 16

/* Table pointers share the entry with PTE_VALID and must keep PTE_LEAF 0. */
_Static_assert(_Alignof(max_align_t) >= 4, "table pointers need 2 free bits");

struct pt_table {
	uint64_t pte[PT_ENTRIES];
	unsigned int nr_used;
};

struct iommufd_domain {
	pthread_rwlock_t lock;
	struct pt_table *root;
	unsigned int granule_shift;
	unsigned int top_level;		/* level of the root table */
	unsigned int leaf_levels;	/* bit L: leaves allowed at level L */
	uint64_t aperture_start;
	uint64_t aperture_last;
	bool dirty_tracking;
	uint64_t unmap_gen;		/* see iommufd_domain_read_locked */
	uint64_t nr_leaves[IOMMUFD_DOMAIN_LEAF_LEVELS];
	struct pt_table *spare[SPARE_MAX];	/* all-zero tables */
	unsigned int nr_spare;
	unsigned int split_reserve;	/* 0 when no leaf can ever be split */
};

static inline unsigned int level_shift(const struct iommufd_domain *d,
				       unsigned int level)
{
	return d->granule_shift + PT_BITS * level;
}

static inline uint64_t level_size(const struct iommufd_domain *d,
				  unsigned int level)
{
	return (uint64_t)1 << level_shift(d, level);
}

static inline unsigned int pte_index(const struct iommufd_domain *d,
				     unsigned int level, uint64_t iova)
{
	return (iova >> level_shift(d, level)) & (PT_ENTRIES - 1);
}

static inline bool pte_present(uint64_t pte)
{
	return pte & PTE_VALID;
}

static inline bool pte_is_leaf(uint64_t pte)
{
	return pte & PTE_LEAF;
}

static inline struct pt_table *pte_table(uint64_t pte)
{
	return (struct pt_table *)(uintptr_t)(pte & ~PTE_VALID);
}

static inline uint64_t table_pte(struct pt_table *t)
{
	return (uint64_t)(uintptr_t)t | PTE_VALID;
}

static inline uint64_t pte_pa(uint64_t pte)
{
	return pte & ~PTE_LOW_MASK;
}

static inline uint64_t prot_to_pte(int prot)
{
	return (prot & IOMMUFD_DOMAIN_READ ? PTE_READ : 0) |
	       (prot & IOMMUFD_DOMAIN_WRITE ? PTE_WRITE : 0);
}

static inline int pte_prot(uint64_t pte)
{
	return (pte & PTE_READ ? IOMMUFD_DOMAIN_READ : 0) |
	       (pte & PTE_WRITE ? IOMMUFD_DOMAIN_WRITE : 0);
}

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/*
 * The rwlock is state that even read-only queries must take; the object is
 * logically const for them, so the cast only reaches the lock.
 */
static inline pthread_rwlock_t *domain_lock(const struct iommufd_domain *d)
{
	return (pthread_rwlock_t *)&d->lock;
}

/* ----------------------------------------------------------- spare tables */

/*
 * Stock up to @want spares (at most SPARE_MAX).  Map passes @injectable so
 * that the allocation is a fail-nth point; unmap does not, because the
 * kernel's unmap path has no failure to inject.
 */
static bool spare_fill(struct iommufd_domain *d, unsigned int want,
		       bool injectable)
{
	while (d->nr_spare < want) {
		struct pt_table *t = injectable ? isim_kzalloc(sizeof(*t)) :
						  calloc(1, sizeof(*t));

		if (!t)
			return false;
		d->spare[d->nr_spare++] = t;
	}
	return true;
}

/* The caller made sure there is a spare. */
static struct pt_table *spare_take(struct iommufd_domain *d)
{
	return d->spare[--d->nr_spare];
}

/*
 * A new table for map: a spare beyond the split reserve, else a fresh
 * allocation, which is where an injected failure can hit.
 */
static struct pt_table *table_alloc(struct iommufd_domain *d)
{
	if (d->nr_spare > d->split_reserve)
		return spare_take(d);
	return isim_kzalloc(sizeof(struct pt_table));
}

/* An emptied table: all entries are 0 again, so it can be reused as is. */
static void table_put(struct iommufd_domain *d, struct pt_table *t)
{
	if (d->nr_spare < SPARE_MAX)
		d->spare[d->nr_spare++] = t;
	else
		free(t);
}

static void table_free_all(const struct iommufd_domain *d, struct pt_table *t,
			   unsigned int level)
{
	if (level)
		for (unsigned int i = 0; i < PT_ENTRIES; i++)
			if (pte_present(t->pte[i]) && !pte_is_leaf(t->pte[i]))
				table_free_all(d, pte_table(t->pte[i]),
					       level - 1);
	free(t);
}

/* ------------------------------------------------------------ leaf walker */

/*
 * Called for each leaf that intersects the walked window, in IOVA order,
 * with the leaf's whole extent [start, last]; a non-zero return stops the
 * walk.  The callback may change the leaf's flags but not the tree.
 */
typedef int (*leaf_fn)(void *ctx, unsigned int level, uint64_t *pte,
		       uint64_t start, uint64_t last);

static int walk_leaves(const struct iommufd_domain *d, struct pt_table *t,
		       unsigned int level, uint64_t start, uint64_t last,
		       leaf_fn fn, void *ctx)
{
	uint64_t size = level_size(d, level);
	uint64_t cur = start;

	for (;;) {
		uint64_t *pte = &t->pte[pte_index(d, level, cur)];
		uint64_t entry_start = cur & ~(size - 1);
		uint64_t entry_last = entry_start + (size - 1);
		uint64_t end = min_u64(entry_last, last);
		int rc = 0;

		if (pte_present(*pte)) {
			if (pte_is_leaf(*pte))
				rc = fn(ctx, level, pte, entry_start,
					entry_last);
			else
				rc = walk_leaves(d, pte_table(*pte), level - 1,
						 cur, end, fn, ctx);
		}
		if (rc)
			return rc;
		if (end == last)
			return 0;
		cur = end + 1;
	}
}

/* Clip [*start, *last] to the aperture; false when nothing is left. */
static bool clip_to_aperture(const struct iommufd_domain *d, uint64_t *start,
			     uint64_t *last)
{
	*start = max_u64(*start, d->aperture_start);
	*last = min_u64(*last, d->aperture_last);
	return *start <= *last;
}

static int found_leaf(void *ctx, unsigned int level, uint64_t *pte,
		      uint64_t start, uint64_t last)
{
	return 1;
}

static bool range_has_leaf(const struct iommufd_domain *d, uint64_t start,
			   uint64_t last)
{
	return walk_leaves(d, d->root, d->top_level, start, last, found_leaf,
			   NULL);
}

/* -------------------------------------------------------------- lifetime */

int iommufd_domain_new(const struct iommufd_domain_geometry *g,
		       struct iommufd_domain **out)
{
	struct iommufd_domain *d;
	uint64_t granule, allowed;
	unsigned int shift, top = 0;
	int rc;

	if (!g || !g->pgsize_bitmap)
		return -EINVAL;
	granule = g->pgsize_bitmap & -g->pgsize_bitmap;
	shift = (unsigned int)__builtin_ctzll(granule);
	if (shift < PT_MIN_GRANULE_SHIFT)
		return -EINVAL;
	/* Only the two larger leaf sizes a 512-entry table can express. */
	allowed = granule;
	if (shift + PT_BITS < 64)
		allowed |= granule << PT_BITS;
	if (shift + 2 * PT_BITS < 64)
		allowed |= granule << (2 * PT_BITS);
	if (g->pgsize_bitmap & ~allowed)
		return -EINVAL;
	/*
	 * Splitting a top-size leaf must produce middle-size leaves, so the
	 * top size without the middle one is not a format we can represent.
	 */
	if (shift + 2 * PT_BITS < 64 &&
	    (g->pgsize_bitmap & (granule << (2 * PT_BITS))) &&
	    !(g->pgsize_bitmap & (granule << PT_BITS)))
		return -EINVAL;
	if (g->aperture_start > g->aperture_last ||
	    (g->aperture_start & (granule - 1)) ||
	    ((g->aperture_last + 1) & (granule - 1)))
		return -EINVAL;

	/* The lowest root level whose 512 entries reach aperture_last. */
	while (shift + PT_BITS * (top + 1) < 64 &&
	       (g->aperture_last >> (shift + PT_BITS * (top + 1))))
		top++;

	d = isim_kzalloc(sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->granule_shift = shift;
	d->unmap_gen = 1;
	d->top_level = top;
	d->aperture_start = g->aperture_start;
	d->aperture_last = g->aperture_last;
	for (unsigned int level = 0;
	     level < IOMMUFD_DOMAIN_LEAF_LEVELS && level <= top; level++)
		if (g->pgsize_bitmap & level_size(d, level))
			d->leaf_levels |= 1u << level;
	d->split_reserve = d->leaf_levels > 1 ? SPLIT_RESERVE : 0;

	d->root = isim_kzalloc(sizeof(*d->root));
	if (!d->root) {
		rc = -ENOMEM;
		goto err_free;
	}
	rc = -pthread_rwlock_init(&d->lock, NULL);
	if (rc)
		goto err_root;
	*out = d;
	return 0;

err_root:
	free(d->root);
err_free:
	free(d);
	return rc;
}

void iommufd_domain_free(struct iommufd_domain *d)
{
	if (!d)
		return;
	table_free_all(d, d->root, d->top_level);
	while (d->nr_spare)
		free(spare_take(d));
	pthread_rwlock_destroy(&d->lock);
	free(d);
}

uint64_t iommufd_domain_min_pgsize(const struct iommufd_domain *d)
{
	return level_size(d, 0);
}

/* ---------------------------------------------------------- map / unmap */

struct map_ctx {
	uint64_t iova;
	uint64_t pa;
	uint64_t flags;		/* valid, leaf and prot bits of every leaf */
};

/*
 * Fill [start, last] below table @t, which the caller checked is empty.
 * Each entry that the range covers whole becomes a leaf when its level
 * allows leaves and the PA there is aligned to the entry size; otherwise
 * the range goes one level down.  On -ENOMEM the leaves already written
 * stay; the caller unmaps the whole range, which also frees the tables.
 */
static int map_level(struct iommufd_domain *d, const struct map_ctx *c,
		     struct pt_table *t, unsigned int level, uint64_t start,
		     uint64_t last)
{
	uint64_t size = level_size(d, level);
	uint64_t cur = start;

	for (;;) {
		uint64_t *pte = &t->pte[pte_index(d, level, cur)];
		uint64_t entry_start = cur & ~(size - 1);
		uint64_t entry_last = entry_start + (size - 1);
		uint64_t end = min_u64(entry_last, last);
		uint64_t pa = c->pa + (cur - c->iova);

		if (cur == entry_start && end == entry_last &&
		    (d->leaf_levels & (1u << level)) && !(pa & (size - 1))) {
			*pte = pa | c->flags;
			t->nr_used++;
			d->nr_leaves[level]++;
		} else {
			struct pt_table *child;
			int rc;

			if (!pte_present(*pte)) {
				child = table_alloc(d);
				if (!child)
					return -ENOMEM;
				*pte = table_pte(child);
				t->nr_used++;
			} else {
				child = pte_table(*pte);
			}
			rc = map_level(d, c, child, level - 1, cur, end);
			if (rc)
				return rc;
		}
		if (end == last)
			return 0;
		cur = end + 1;
	}
}

/*
 * Clear every leaf in [start, last] below @t (the boundaries were split
 * first, so leaves lie wholly inside or outside) and free tables that
 * empty.  Returns the bytes that were mapped.
 */
static uint64_t unmap_level(struct iommufd_domain *d, struct pt_table *t,
			    unsigned int level, uint64_t start, uint64_t last)
{
	uint64_t size = level_size(d, level);
	uint64_t cur = start, unmapped = 0;

	for (;;) {
		uint64_t *pte = &t->pte[pte_index(d, level, cur)];
		uint64_t entry_start = cur & ~(size - 1);
		uint64_t entry_last = entry_start + (size - 1);
		uint64_t end = min_u64(entry_last, last);

		if (!pte_present(*pte)) {
			/* hole */
		} else if (pte_is_leaf(*pte)) {
			/* The splits leave none straddling; never cut one. */
			if (cur == entry_start && end == entry_last) {
				*pte = 0;
				t->nr_used--;
				d->nr_leaves[level]--;
				unmapped += size;
			}
		} else {
			struct pt_table *child = pte_table(*pte);

			unmapped += unmap_level(d, child, level - 1, cur, end);
			if (!child->nr_used) {
				table_put(d, child);
				*pte = 0;
				t->nr_used--;
			}
		}
		if (end == last)
			return unmapped;
		cur = end + 1;
	}
}

/*
 * Tables needed so that @addr becomes the first byte of a leaf (or of a
 * hole): one per level, from the covering large leaf down, at which @addr
 * is not aligned.
 */
static unsigned int split_need(const struct iommufd_domain *d, uint64_t addr)
{
	struct pt_table *t = d->root;
	unsigned int level = d->top_level, need = 0;

	for (;;) {
		uint64_t pte = t->pte[pte_index(d, level, addr)];

		if (!pte_present(pte))
			return 0;
		if (pte_is_leaf(pte)) {
			for (; level; level--)
				if (addr & (level_size(d, level) - 1))
					need++;
			return need;
		}
		t = pte_table(pte);
		level--;
	}
}

/*
 * Replace each large leaf that covers @addr without starting there by a
 * table of 512 leaves one level smaller with the same PA, prot and dirty
 * bit, until @addr starts a leaf.  Takes split_need() spare tables.
 */
static void split_at(struct iommufd_domain *d, uint64_t addr)
{
	struct pt_table *t = d->root;
	unsigned int level = d->top_level;

	for (;;) {
		uint64_t *pte = &t->pte[pte_index(d, level, addr)];

		if (!pte_present(*pte))
			return;
		if (pte_is_leaf(*pte)) {
			uint64_t size = level_size(d, level), sub;
			struct pt_table *child;

			if (!(addr & (size - 1)))
				return;
			sub = level_size(d, level - 1);
			child = spare_take(d);
			for (unsigned int i = 0; i < PT_ENTRIES; i++)
				child->pte[i] = *pte + i * sub;
			child->nr_used = PT_ENTRIES;
			d->nr_leaves[level]--;
			d->nr_leaves[level - 1] += PT_ENTRIES;
			*pte = table_pte(child);
		}
		t = pte_table(*pte);
		level--;
	}
}

int iommufd_domain_map(struct iommufd_domain *d, uint64_t iova, uint64_t pa,
		       uint64_t len, int prot)
{
	uint64_t granule_mask = level_size(d, 0) - 1;
	uint64_t last = iova + len - 1;
	struct map_ctx c = {
		.iova = iova,
		.pa = pa,
		.flags = PTE_VALID | PTE_LEAF | prot_to_pte(prot),
	};
	int rc;

	if (!len || ((iova | pa | len) & granule_mask) || pa + (len - 1) < pa)
		return -EINVAL;
	if (last < iova || iova < d->aperture_start || last > d->aperture_last)
		return -ERANGE;

	pthread_rwlock_wrlock(&d->lock);
	if (range_has_leaf(d, iova, last)) {
		rc = -EEXIST;
		goto out;
	}
	if (!spare_fill(d, d->split_reserve, true)) {
		rc = -ENOMEM;
		goto out;
	}
	rc = map_level(d, &c, d->root, d->top_level, iova, last);
	if (rc)
		unmap_level(d, d->root, d->top_level, iova, last);
out:
	pthread_rwlock_unlock(&d->lock);
	return rc;
}

uint64_t iommufd_domain_unmap(struct iommufd_domain *d, uint64_t iova,
			      uint64_t len)
{
	uint64_t granule_mask = level_size(d, 0) - 1;
	uint64_t last = iova + len - 1, unmapped = 0;
	unsigned int need_start, need_end = 0;

	if (!len || ((iova | len) & granule_mask))
		return 0;
	if (last < iova)
		last = UINT64_MAX;
	if (!clip_to_aperture(d, &iova, &last))
		return 0;

	pthread_rwlock_wrlock(&d->lock);
	/* Counting both ends apart may overcount a shared table; harmless. */
	need_start = split_need(d, iova);
	if (last != UINT64_MAX)
		need_end = split_need(d, last + 1);
	if (!spare_fill(d, need_start + need_end, false))
		goto out;
	if (need_start)
		split_at(d, iova);
	if (need_end)
		split_at(d, last + 1);
	unmapped = unmap_level(d, d->root, d->top_level, iova, last);
	if (unmapped)
		d->unmap_gen++;
out:
	pthread_rwlock_unlock(&d->lock);
	return unmapped;
}

/* ---------------------------------------------------------------- lookup */

int iommufd_domain_iova_to_phys(struct iommufd_domain *d, uint64_t iova,
				uint64_t *pa, int *prot)
{
	struct pt_table *t;
	unsigned int level;
	int rc = -ENOENT;

	/* Beyond the aperture the index bits would alias lower addresses. */
	if (iova < d->aperture_start || iova > d->aperture_last)
		return -ENOENT;

	pthread_rwlock_rdlock(&d->lock);
	t = d->root;
	level = d->top_level;
	for (;;) {
		uint64_t pte = t->pte[pte_index(d, level, iova)];

		if (!pte_present(pte))
			break;
		if (pte_is_leaf(pte)) {
			*pa = pte_pa(pte) + (iova & (level_size(d, level) - 1));
			if (prot)
				*prot = pte_prot(pte);
			rc = 0;
			break;
		}
		t = pte_table(pte);
		level--;
	}
	pthread_rwlock_unlock(&d->lock);
	return rc;
}

struct for_each_ctx {
	uint64_t start, last;	/* window */
	int (*fn)(void *arg, uint64_t iova, uint64_t pa, uint64_t len,
		  int prot);
	void *arg;
	bool pending;		/* a merged run waits to be reported */
	uint64_t run_iova, run_pa, run_len;
	int run_prot;
};

static int for_each_leaf(void *ctx, unsigned int level, uint64_t *pte,
			 uint64_t start, uint64_t last)
{
	struct for_each_ctx *c = ctx;
	uint64_t s = max_u64(start, c->start);
	uint64_t e = min_u64(last, c->last);
	uint64_t pa = pte_pa(*pte) + (s - start);
	int prot = pte_prot(*pte);

	if (c->pending && c->run_iova + c->run_len == s &&
	    c->run_pa + c->run_len == pa && c->run_prot == prot) {
		c->run_len += e - s + 1;
		return 0;
	}
	if (c->pending) {
		int rc = c->fn(c->arg, c->run_iova, c->run_pa, c->run_len,
			       c->run_prot);

		if (rc)
			return rc;
	}
	c->pending = true;
	c->run_iova = s;
	c->run_pa = pa;
	c->run_len = e - s + 1;
	c->run_prot = prot;
	return 0;
}

int iommufd_domain_for_each(struct iommufd_domain *d, uint64_t iova,
			    uint64_t last,
			    int (*fn)(void *arg, uint64_t iova, uint64_t pa,
				      uint64_t len, int prot),
			    void *arg)
{
	struct for_each_ctx c = { .fn = fn, .arg = arg };
	int rc;

	if (last < iova)
		return -EINVAL;
	if (!clip_to_aperture(d, &iova, &last))
		return 0;
	c.start = iova;
	c.last = last;

	pthread_rwlock_rdlock(&d->lock);
	rc = walk_leaves(d, d->root, d->top_level, iova, last, for_each_leaf,
			 &c);
	if (!rc && c.pending)
		rc = fn(arg, c.run_iova, c.run_pa, c.run_len, c.run_prot);
	pthread_rwlock_unlock(&d->lock);
	return rc;
}

int iommufd_domain_read_locked(struct iommufd_domain *d,
			       int (*fn)(void *arg, uint64_t gen), void *arg)
{
	int rc;

	pthread_rwlock_rdlock(&d->lock);
	rc = fn(arg, d->unmap_gen);
	pthread_rwlock_unlock(&d->lock);
	return rc;
}

void iommufd_domain_stats(const struct iommufd_domain *d,
			  uint64_t leaves_per_level[IOMMUFD_DOMAIN_LEAF_LEVELS])
{
	pthread_rwlock_rdlock(domain_lock(d));
	for (unsigned int i = 0; i < IOMMUFD_DOMAIN_LEAF_LEVELS; i++)
		leaves_per_level[i] = d->nr_leaves[i];
	pthread_rwlock_unlock(domain_lock(d));
}

/* ---------------------------------------------------------- dirty bits */

static int clear_dirty_leaf(void *ctx, unsigned int level, uint64_t *pte,
			    uint64_t start, uint64_t last)
{
	*pte &= ~PTE_DIRTY;
	return 0;
}

void iommufd_domain_set_dirty_tracking(struct iommufd_domain *d, bool enable)
{
	pthread_rwlock_wrlock(&d->lock);
	if (enable && !d->dirty_tracking)
		walk_leaves(d, d->root, d->top_level, d->aperture_start,
			    d->aperture_last, clear_dirty_leaf, NULL);
	d->dirty_tracking = enable;
	pthread_rwlock_unlock(&d->lock);
}

struct coverage_ctx {
	uint64_t next;		/* first byte not yet known to be mapped */
	bool done;		/* the window is covered to its end */
};

static int check_covered_leaf(void *ctx, unsigned int level, uint64_t *pte,
			      uint64_t start, uint64_t last)
{
	struct coverage_ctx *c = ctx;

	if (start > c->next)
		return -ENOENT;
	if (last == UINT64_MAX)
		c->done = true;
	else
		c->next = max_u64(c->next, last + 1);
	return 0;
}

static int set_dirty_leaf(void *ctx, unsigned int level, uint64_t *pte,
			  uint64_t start, uint64_t last)
{
	*pte |= PTE_DIRTY;
	return 0;
}

int iommufd_domain_mark_dirty(struct iommufd_domain *d, uint64_t iova,
			      uint64_t len)
{
	uint64_t last = iova + len - 1;
	struct coverage_ctx c = { .next = iova };
	int rc;

	if (!len || last < iova)
		return -EINVAL;
	if (iova < d->aperture_start || last > d->aperture_last)
		return -ENOENT;

	pthread_rwlock_wrlock(&d->lock);
	rc = walk_leaves(d, d->root, d->top_level, iova, last,
			 check_covered_leaf, &c);
	if (!rc && !c.done && c.next <= last)
		rc = -ENOENT;
	if (!rc && d->dirty_tracking)
		walk_leaves(d, d->root, d->top_level, iova, last,
			    set_dirty_leaf, NULL);
	pthread_rwlock_unlock(&d->lock);
	return rc;
}

struct read_dirty_ctx {
	uint64_t start, last;	/* the caller's range */
	uint64_t pgsize;
	bool no_clear;
	void (*fn)(void *arg, uint64_t iova);
	void *arg;
	bool reported_any;
	uint64_t reported_last;	/* highest granule reported so far */
};

static int read_dirty_leaf(void *ctx, unsigned int level, uint64_t *pte,
			   uint64_t start, uint64_t last)
{
	struct read_dirty_ctx *c = ctx;
	uint64_t mask = c->pgsize - 1;
	uint64_t first, final;

	if (!(*pte & PTE_DIRTY))
		return 0;
	first = max_u64(start, c->start) & ~mask;
	final = min_u64(last, c->last) & ~mask;
	/* Small leaves share a granule when pgsize exceeds the leaf size. */
	if (c->reported_any) {
		if (final <= c->reported_last)
			goto clear;
		first = max_u64(first, c->reported_last + c->pgsize);
	}
	for (uint64_t g = first;; g += c->pgsize) {
		c->fn(c->arg, g);
		if (g == final)
			break;
	}
	c->reported_any = true;
	c->reported_last = final;
clear:
	if (!c->no_clear && start >= c->start && last <= c->last)
		*pte &= ~PTE_DIRTY;
	return 0;
}

int iommufd_domain_read_and_clear_dirty(struct iommufd_domain *d,
					uint64_t iova, uint64_t len,
					uint64_t pgsize, bool no_clear,
					void (*fn)(void *arg, uint64_t iova),
					void *arg)
{
	struct read_dirty_ctx c = {
		.start = iova,
		.last = iova + len - 1,
		.pgsize = pgsize,
		.no_clear = no_clear,
		.fn = fn,
		.arg = arg,
	};
	uint64_t walk_start = iova, walk_last = c.last;
	int rc = 0;

	if (!pgsize || (pgsize & (pgsize - 1)) || !len ||
	    ((iova | len) & (pgsize - 1)) || c.last < iova)
		return -EINVAL;

	pthread_rwlock_wrlock(&d->lock);
	if (!d->dirty_tracking) {
		rc = -EINVAL;
		goto out;
	}
	if (clip_to_aperture(d, &walk_start, &walk_last))
		walk_leaves(d, d->root, d->top_level, walk_start, walk_last,
			    read_dirty_leaf, &c);
out:
	pthread_rwlock_unlock(&d->lock);
	return rc;
}
