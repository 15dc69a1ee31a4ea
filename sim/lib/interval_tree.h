/*
 * Intrusive interval tree over closed uint64_t ranges [start, last], the
 * simulator's stand-in for the kernel's interval tree.  It indexes IOVA
 * areas, allowed and reserved ranges, and the access/domain coverage of a
 * pages object, so it must accept overlapping and even identical ranges.
 * Nodes live inside the caller's structures (reach the container with
 * isim_container_of) and the tree never allocates, so no operation can
 * fail.  It is a red-black tree ordered by start, with equal starts kept in
 * insertion order, and every node caches the largest `last` of its subtree
 * so that overlap searches skip whole subtrees: insert, remove and the
 * first-overlap search are O(log n).  The span iterator on top walks the
 * alternating used/hole runs of one or several trees over an index window.
 * No locking: the owner serialises access.
 */
#ifndef ISIM_LIB_INTERVAL_TREE_H
#define ISIM_LIB_INTERVAL_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define isim_container_of(ptr, type, member)                                 \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct isim_itree_node {
	uint64_t start;
	uint64_t last;	/* inclusive; start <= last is the caller's duty */
	/* Private to interval_tree.c from here on. */
	uint64_t subtree_last;
	struct isim_itree_node *rb_parent;
	struct isim_itree_node *rb_left;
	struct isim_itree_node *rb_right;
	bool rb_red;
};

struct isim_itree {
	struct isim_itree_node *root;
	size_t count;
};

void isim_itree_init(struct isim_itree *t);

static inline bool isim_itree_empty(const struct isim_itree *t)
{
	return t->root == NULL;
}

/* Link @n, whose start and last the caller has set; it goes after any node
 * with the same start. */
void isim_itree_insert(struct isim_itree *t, struct isim_itree_node *n);
/* Unlink @n, which must be in @t. */
void isim_itree_remove(struct isim_itree *t, struct isim_itree_node *n);

/* The node intersecting [start, last] with the lowest start (the earliest
 * inserted among equal starts), or NULL. */
struct isim_itree_node *isim_itree_iter_first(const struct isim_itree *t,
					      uint64_t start, uint64_t last);
/* The next node after @n, in tree order, that intersects [start, last]. */
struct isim_itree_node *isim_itree_iter_next(const struct isim_itree_node *n,
					     uint64_t start, uint64_t last);

/* Plain in-order walk: by start, then insertion order. */
struct isim_itree_node *isim_itree_first(const struct isim_itree *t);
struct isim_itree_node *isim_itree_next(const struct isim_itree_node *n);

/* The first node, in tree order, whose range is exactly [start, last].
 * O(log n + k) where k counts the nodes sharing that start. */
struct isim_itree_node *isim_itree_find_exact(const struct isim_itree *t,
					      uint64_t start, uint64_t last);

/* Debug aids for tests: full structural validation (order, links, colours,
 * black height, cached subtree_last, count, start <= last) and the height
 * (0 for an empty tree).  Both are O(n). */
bool isim_itree_check(const struct isim_itree *t);
unsigned int isim_itree_height(const struct isim_itree *t);

#define isim_itree_for_each(n, t)                                           \
	for ((n) = isim_itree_first(t); (n); (n) = isim_itree_next(n))

/* Arguments are evaluated more than once. */
#define isim_itree_for_each_overlap(n, t, start, last)                      \
	for ((n) = isim_itree_iter_first((t), (start), (last)); (n);         \
	     (n) = isim_itree_iter_next((n), (start), (last)))

/*
 * Span iterator: splits [first_index, last_index] into maximal runs that are
 * either covered by at least one node of any of the trees (is_hole == 0,
 * [start_used, last_used]) or covered by none (is_hole == 1,
 * [start_hole, last_hole]).  Runs alternate between the two kinds.  Only
 * the pair of fields matching is_hole is meaningful.  The window may end at
 * UINT64_MAX.  An empty window (first_index > last_index) yields nothing.
 * The trees must not change while a walk is in progress.
 */
#define ISIM_ITREE_SPAN_MAX_TREES 4

struct isim_itree_span_iter {
	/* Public: the current span. */
	int is_hole;	/* 1 hole, 0 used, -1 once the walk is done */
	uint64_t start_hole;
	uint64_t last_hole;
	uint64_t start_used;
	uint64_t last_used;
	/* Private. */
	const struct isim_itree *trees[ISIM_ITREE_SPAN_MAX_TREES];
	struct isim_itree_node *cursor[ISIM_ITREE_SPAN_MAX_TREES];
	unsigned int ntrees;
	uint64_t first_index;
	uint64_t last_index;
};

void isim_itree_span_iter_first(struct isim_itree_span_iter *it,
				const struct isim_itree *t,
				uint64_t first_index, uint64_t last_index);
/* Union of two trees, e.g. reserved ranges together with areas. */
void isim_itree_span_iter_first2(struct isim_itree_span_iter *it,
				 const struct isim_itree *a,
				 const struct isim_itree *b,
				 uint64_t first_index, uint64_t last_index);
/* Union of up to ISIM_ITREE_SPAN_MAX_TREES trees; NULL entries count as
 * empty trees and extra trees beyond the limit are ignored. */
void isim_itree_span_iter_first_n(struct isim_itree_span_iter *it,
				  const struct isim_itree *const *trees,
				  unsigned int ntrees,
				  uint64_t first_index, uint64_t last_index);
void isim_itree_span_iter_next(struct isim_itree_span_iter *it);
/* Restart the walk at @new_index (normally past the current span), keeping
 * the trees and last_index; moving beyond last_index ends the walk. */
void isim_itree_span_iter_advance(struct isim_itree_span_iter *it,
				  uint64_t new_index);

static inline bool
isim_itree_span_iter_done(const struct isim_itree_span_iter *it)
{
	return it->is_hole < 0;
}

/* @it is a struct isim_itree_span_iter pointer; arguments may be evaluated
 * more than once. */
#define isim_itree_for_each_span(it, t, first, last)                        \
	for (isim_itree_span_iter_first((it), (t), (first), (last));         \
	     !isim_itree_span_iter_done(it); isim_itree_span_iter_next(it))

#define isim_itree_for_each_span2(it, a, b, first, last)                   \
	for (isim_itree_span_iter_first2((it), (a), (b), (first), (last));   \
	     !isim_itree_span_iter_done(it); isim_itree_span_iter_next(it))

#endif
