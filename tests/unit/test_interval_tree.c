/*
 * The interval tree and its span iterator against brute-force models: random
 * insert/remove sequences with duplicates and ranges touching 0 and
 * UINT64_MAX, overlap queries compared node by node in (start, insertion)
 * order, spans compared with a breakpoint sweep, exact lookups, and the
 * balance bound under sorted insertion.
 */
#include "config.h"

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "sim/lib/interval_tree.h"

#define U64_MAX UINT64_MAX

struct item {
	int tag;
	struct isim_itree_node node;
	bool linked;
	unsigned int tree;	/* which of the model's trees holds it */
	uint64_t seq;		/* insertion stamp, the tie-break order */
};

static struct item *item_of(struct isim_itree_node *n)
{
	return isim_container_of(n, struct item, node);
}

/* splitmix64: a seeded, platform-independent stream for the model test. */
static uint64_t rnd_state;

static uint64_t rnd(void)
{
	uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

/*
 * A point biased toward the places where bugs live: small values (so
 * ranges collide and touch), the very top of the space, and the extremes
 * themselves.
 */
static uint64_t rnd_point(void)
{
	switch (rnd_below(8)) {
	case 0:
		return 0;
	case 1:
		return U64_MAX;
	case 2:
		return U64_MAX - rnd_below(64);
	case 3:
		return rnd();
	default:
		return rnd_below(256);
	}
}

static void rnd_range(uint64_t *start, uint64_t *last)
{
	uint64_t a = rnd_point(), b;

	switch (rnd_below(6)) {
	case 0:
		b = a;		/* single point */
		break;
	case 1:
		b = a + rnd_below(16);
		if (b < a)
			b = U64_MAX;
		break;
	default:
		b = rnd_point();
		break;
	}
	*start = a < b ? a : b;
	*last = a < b ? b : a;
}

/*
 * A fresh range for @p, often derived from the range @o had last (if it was
 * ever used): an identical copy, or a short range abutting it on either
 * side so that spans must merge runs that touch without overlapping.
 */
static void pick_range(struct item *p, const struct item *o)
{
	uint64_t len = rnd_below(8);

	switch (o->seq ? rnd_below(8) : 7) {
	case 0:
	case 1:
		p->node.start = o->node.start;
		p->node.last = o->node.last;
		return;
	case 2:
		if (o->node.last == U64_MAX)
			break;
		p->node.start = o->node.last + 1;
		p->node.last = p->node.start + len;
		if (p->node.last < p->node.start)
			p->node.last = U64_MAX;
		return;
	case 3:
		if (!o->node.start)
			break;
		p->node.last = o->node.start - 1;
		p->node.start = p->node.last >= len ? p->node.last - len : 0;
		return;
	default:
		break;
	}
	rnd_range(&p->node.start, &p->node.last);
}

static bool intersects(const struct item *it, uint64_t start, uint64_t last)
{
	return it->node.start <= last && it->node.last >= start;
}

/* Tree order: start, then insertion stamp. */
static bool item_before(const struct item *a, const struct item *b)
{
	if (a->node.start != b->node.start)
		return a->node.start < b->node.start;
	return a->seq < b->seq;
}

/* The next linked item in tree order after @prev (NULL: the first) among
 * those of @tree intersecting [start, last]; a plain O(n) scan. */
static struct item *model_next(struct item *pool, size_t n, unsigned int tree,
			       const struct item *prev, uint64_t start,
			       uint64_t last)
{
	struct item *best = NULL;

	for (size_t i = 0; i < n; i++) {
		struct item *it = &pool[i];

		if (!it->linked || it->tree != tree ||
		    !intersects(it, start, last))
			continue;
		if (prev && !item_before(prev, it))
			continue;
		if (!best || item_before(it, best))
			best = it;
	}
	return best;
}

static void check_overlap_walk(struct isim_itree *t, struct item *pool,
			       size_t n, unsigned int tree, uint64_t start,
			       uint64_t last)
{
	struct isim_itree_node *node;
	struct item *want = model_next(pool, n, tree, NULL, start, last);

	isim_itree_for_each_overlap(node, t, start, last) {
		ck_assert_msg(want != NULL,
			      "extra node [%llx,%llx] for query [%llx,%llx]",
			      (unsigned long long)node->start,
			      (unsigned long long)node->last,
			      (unsigned long long)start,
			      (unsigned long long)last);
		ck_assert_ptr_eq(item_of(node), want);
		want = model_next(pool, n, tree, want, start, last);
	}
	ck_assert_ptr_null(want);
}

static void check_inorder_walk(struct isim_itree *t, struct item *pool,
			       size_t n, unsigned int tree)
{
	struct isim_itree_node *node;
	struct item *want = model_next(pool, n, tree, NULL, 0, U64_MAX);
	size_t seen = 0;

	isim_itree_for_each(node, t) {
		ck_assert_ptr_eq(item_of(node), want);
		want = model_next(pool, n, tree, want, 0, U64_MAX);
		seen++;
	}
	ck_assert_ptr_null(want);
	ck_assert_uint_eq(seen, t->count);
}

struct span {
	bool hole;
	uint64_t start, last;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool model_covered(struct item *pool, size_t n, unsigned int tree_mask,
			  uint64_t point)
{
	for (size_t i = 0; i < n; i++)
		if (pool[i].linked && (tree_mask & (1u << pool[i].tree)) &&
		    intersects(&pool[i], point, point))
			return true;
	return false;
}

/*
 * Expected spans by a different method than the iterator's: cut the window
 * at every place coverage can change, decide each elementary piece by
 * testing its first point, and merge neighbours of the same kind.
 */
static size_t model_spans(struct item *pool, size_t n, unsigned int tree_mask,
			  uint64_t first, uint64_t last, struct span *out)
{
	uint64_t *cut = malloc(sizeof(*cut) * (2 * n + 1));
	size_t ncut = 0, nspan = 0;

	ck_assert_ptr_nonnull(cut);
	cut[ncut++] = first;
	for (size_t i = 0; i < n; i++) {
		const struct item *it = &pool[i];

		if (!it->linked || !(tree_mask & (1u << it->tree)))
			continue;
		if (it->node.start > first && it->node.start <= last)
			cut[ncut++] = it->node.start;
		if (it->node.last >= first && it->node.last < last)
			cut[ncut++] = it->node.last + 1;
	}
	qsort(cut, ncut, sizeof(*cut), cmp_u64);
	for (size_t i = 0; i < ncut; i++) {
		uint64_t piece_last;
		bool hole;

		if (i && cut[i] == cut[i - 1])
			continue;
		piece_last = last;
		for (size_t j = i + 1; j < ncut; j++) {
			if (cut[j] != cut[i]) {
				piece_last = cut[j] - 1;
				break;
			}
		}
		hole = !model_covered(pool, n, tree_mask, cut[i]);
		if (nspan && out[nspan - 1].hole == hole) {
			out[nspan - 1].last = piece_last;
		} else {
			out[nspan].hole = hole;
			out[nspan].start = cut[i];
			out[nspan].last = piece_last;
			nspan++;
		}
	}
	free(cut);
	return nspan;
}

static void check_span_walk(struct isim_itree_span_iter *it,
			    const struct span *want, size_t nwant)
{
	size_t i = 0;

	for (; !isim_itree_span_iter_done(it); isim_itree_span_iter_next(it)) {
		ck_assert_uint_lt(i, nwant);
		ck_assert_int_eq(it->is_hole, want[i].hole);
		if (it->is_hole) {
			ck_assert_uint_eq(it->start_hole, want[i].start);
			ck_assert_uint_eq(it->last_hole, want[i].last);
		} else {
			ck_assert_uint_eq(it->start_used, want[i].start);
			ck_assert_uint_eq(it->last_used, want[i].last);
		}
		i++;
	}
	ck_assert_uint_eq(i, nwant);
}

static void rnd_window(uint64_t *first, uint64_t *last)
{
	switch (rnd_below(5)) {
	case 0:
		*first = 0;
		*last = U64_MAX;
		break;
	default:
		rnd_range(first, last);
		break;
	}
}

static unsigned int ilog2_ceil(uint64_t v)
{
	unsigned int r = 0;

	while (((uint64_t)1 << r) < v)
		r++;
	return r;
}

/* ------------------------------------------------------------------ tests */

START_TEST(empty_tree)
{
	struct isim_itree t;
	struct isim_itree_span_iter it;
	int n = 0;

	isim_itree_init(&t);
	ck_assert(isim_itree_empty(&t));
	ck_assert(isim_itree_check(&t));
	ck_assert_uint_eq(isim_itree_height(&t), 0);
	ck_assert_ptr_null(isim_itree_first(&t));
	ck_assert_ptr_null(isim_itree_iter_first(&t, 0, U64_MAX));
	ck_assert_ptr_null(isim_itree_find_exact(&t, 0, 0));
	isim_itree_for_each_span(&it, &t, 0, U64_MAX) {
		ck_assert_int_eq(it.is_hole, 1);
		ck_assert_uint_eq(it.start_hole, 0);
		ck_assert_uint_eq(it.last_hole, U64_MAX);
		n++;
	}
	ck_assert_int_eq(n, 1);
	/* An inverted window is empty. */
	isim_itree_span_iter_first(&it, &t, 5, 4);
	ck_assert(isim_itree_span_iter_done(&it));
}
END_TEST

START_TEST(basic_overlaps)
{
	struct item it[4] = {
		{ .tag = 0, .node = { .start = 10, .last = 19 } },
		{ .tag = 1, .node = { .start = 15, .last = 15 } },
		{ .tag = 2, .node = { .start = 30, .last = 39 } },
		{ .tag = 3, .node = { .start = 0, .last = 100 } },
	};
	struct isim_itree t;
	struct isim_itree_node *n;

	isim_itree_init(&t);
	for (int i = 0; i < 4; i++)
		isim_itree_insert(&t, &it[i].node);
	ck_assert(isim_itree_check(&t));
	ck_assert_uint_eq(t.count, 4);

	n = isim_itree_iter_first(&t, 16, 29);
	ck_assert_int_eq(item_of(n)->tag, 3);
	n = isim_itree_iter_next(n, 16, 29);
	ck_assert_int_eq(item_of(n)->tag, 0);
	ck_assert_ptr_null(isim_itree_iter_next(n, 16, 29));

	n = isim_itree_iter_first(&t, 101, U64_MAX);
	ck_assert_ptr_null(n);

	isim_itree_remove(&t, &it[3].node);
	ck_assert(isim_itree_check(&t));
	ck_assert_ptr_null(isim_itree_iter_first(&t, 20, 29));
	ck_assert_int_eq(item_of(isim_itree_iter_first(&t, 39, 50))->tag, 2);
	ck_assert_int_eq(item_of(isim_itree_iter_first(&t, 15, 15))->tag, 0);
}
END_TEST

/* Random inserts and removes against the array model, two trees at once so
 * the two-tree span walk is covered by the same run. */
START_TEST(matches_model)
{
	enum { POOL = 240, STEPS = 12000 };
	static struct item pool[POOL];
	static struct span want[2 * (2 * POOL + 1)];
	struct isim_itree trees[2];
	struct isim_itree_span_iter it;
	uint64_t seq = 0;

	rnd_state = 0x1234abcdu;
	isim_itree_init(&trees[0]);
	isim_itree_init(&trees[1]);
	for (int i = 0; i < POOL; i++)
		pool[i] = (struct item){ .tag = i };

	for (int step = 0; step < STEPS; step++) {
		struct item *p = &pool[rnd_below(POOL)];
		unsigned int tr;
		uint64_t qs, ql;

		/* Lean toward inserting early so the trees fill up, then
		 * hover around half full. */
		if (!p->linked) {
			if (step > STEPS / 4 && rnd_below(2))
				continue;
			p->tree = (unsigned int)rnd_below(2);
			pick_range(p, &pool[rnd_below(POOL)]);
			p->seq = ++seq;
			p->linked = true;
			isim_itree_insert(&trees[p->tree], &p->node);
		} else {
			isim_itree_remove(&trees[p->tree], &p->node);
			p->linked = false;
		}
		tr = p->tree;
		ck_assert(isim_itree_check(&trees[tr]));

		rnd_window(&qs, &ql);
		check_overlap_walk(&trees[tr], pool, POOL, tr, qs, ql);
		/* The exact lookup finds the oldest item with that range. */
		{
			struct item *m = NULL;

			for (int i = 0; i < POOL; i++)
				if (pool[i].linked && pool[i].tree == tr &&
				    pool[i].node.start == p->node.start &&
				    pool[i].node.last == p->node.last &&
				    (!m || pool[i].seq < m->seq))
					m = &pool[i];
			ck_assert_ptr_eq(isim_itree_find_exact(&trees[tr],
							       p->node.start,
							       p->node.last),
					 m ? &m->node : NULL);
		}
		if (step % 4)
			continue;
		check_inorder_walk(&trees[tr], pool, POOL, tr);
		isim_itree_span_iter_first(&it, &trees[tr], qs, ql);
		check_span_walk(&it, want,
				model_spans(pool, POOL, 1u << tr, qs, ql, want));
		rnd_window(&qs, &ql);
		isim_itree_span_iter_first2(&it, &trees[0], &trees[1], qs, ql);
		check_span_walk(&it, want,
				model_spans(pool, POOL, 3u, qs, ql, want));
	}
	for (int i = 0; i < POOL; i++)
		if (pool[i].linked)
			isim_itree_remove(&trees[pool[i].tree], &pool[i].node);
	ck_assert(isim_itree_empty(&trees[0]) && isim_itree_empty(&trees[1]));
	ck_assert_uint_eq(trees[0].count + trees[1].count, 0);
}
END_TEST

START_TEST(find_exact_duplicates)
{
	struct item it[6] = {
		{ .tag = 0, .node = { .start = 100, .last = 199 } },
		{ .tag = 1, .node = { .start = 100, .last = 149 } },
		{ .tag = 2, .node = { .start = 100, .last = 199 } },
		{ .tag = 3, .node = { .start = 50, .last = 199 } },
		{ .tag = 4, .node = { .start = 100, .last = 199 } },
		{ .tag = 5, .node = { .start = 0, .last = U64_MAX } },
	};
	struct isim_itree t;
	struct isim_itree_node *n;
	int order[6], k = 0;

	isim_itree_init(&t);
	for (int i = 0; i < 6; i++)
		isim_itree_insert(&t, &it[i].node);
	ck_assert(isim_itree_check(&t));

	/* Tree order is start, then insertion. */
	isim_itree_for_each(n, &t)
		order[k++] = item_of(n)->tag;
	ck_assert_int_eq(k, 6);
	ck_assert_int_eq(order[0], 5);
	ck_assert_int_eq(order[1], 3);
	ck_assert_int_eq(order[2], 0);
	ck_assert_int_eq(order[3], 1);
	ck_assert_int_eq(order[4], 2);
	ck_assert_int_eq(order[5], 4);

	ck_assert_ptr_eq(isim_itree_find_exact(&t, 100, 199), &it[0].node);
	ck_assert_ptr_eq(isim_itree_find_exact(&t, 100, 149), &it[1].node);
	ck_assert_ptr_eq(isim_itree_find_exact(&t, 0, U64_MAX), &it[5].node);
	ck_assert_ptr_null(isim_itree_find_exact(&t, 100, 150));
	ck_assert_ptr_null(isim_itree_find_exact(&t, 101, 199));
	ck_assert_ptr_null(isim_itree_find_exact(&t, 0, U64_MAX - 1));

	isim_itree_remove(&t, &it[0].node);
	ck_assert_ptr_eq(isim_itree_find_exact(&t, 100, 199), &it[2].node);
	isim_itree_remove(&t, &it[2].node);
	ck_assert_ptr_eq(isim_itree_find_exact(&t, 100, 199), &it[4].node);
	isim_itree_remove(&t, &it[4].node);
	ck_assert_ptr_null(isim_itree_find_exact(&t, 100, 199));
	ck_assert(isim_itree_check(&t));
	ck_assert_uint_eq(t.count, 3);
}
END_TEST

/* Sorted insertion is the worst case for an unbalanced tree. */
START_TEST(stays_balanced)
{
	enum { N = 100000 };
	struct item *items = calloc(N, sizeof(*items));
	struct isim_itree t;
	struct isim_itree_node *n;
	unsigned int bound;
	uint64_t expect;

	ck_assert_ptr_nonnull(items);
	isim_itree_init(&t);
	for (int i = 0; i < N; i++) {
		items[i].tag = i;
		items[i].node.start = (uint64_t)i * 16;
		items[i].node.last = (uint64_t)i * 16 + 7;
		isim_itree_insert(&t, &items[i].node);
	}
	ck_assert(isim_itree_check(&t));
	/* A red-black tree is at most 2 * log2(n + 1) high. */
	bound = 2 * ilog2_ceil(N + 1);
	ck_assert_uint_le(isim_itree_height(&t), bound);

	/* Point queries land on exactly one node each, or on a gap. */
	ck_assert_int_eq(item_of(isim_itree_iter_first(&t, 16 * 777 + 3,
						       16 * 777 + 3))->tag, 777);
	ck_assert_ptr_null(isim_itree_iter_first(&t, 16 * 777 + 8,
						 16 * 777 + 15));

	/* Drop every other node; balance holds through removals too. */
	for (int i = 0; i < N; i += 2)
		isim_itree_remove(&t, &items[i].node);
	ck_assert(isim_itree_check(&t));
	ck_assert_uint_eq(t.count, N / 2);
	ck_assert_uint_le(isim_itree_height(&t), bound);
	expect = 1;
	isim_itree_for_each(n, &t) {
		ck_assert_uint_eq(n->start, expect * 16);
		expect += 2;
	}

	/* Descending insertion of the removed half. */
	for (int i = N - 2; i >= 0; i -= 2)
		isim_itree_insert(&t, &items[i].node);
	ck_assert(isim_itree_check(&t));
	ck_assert_uint_eq(t.count, N);
	ck_assert_uint_le(isim_itree_height(&t), bound);

	/* Long identical runs are ordered by insertion and stay balanced. */
	isim_itree_init(&t);
	for (int i = 0; i < N; i++) {
		items[i].node.start = 5;
		items[i].node.last = 9;
		isim_itree_insert(&t, &items[i].node);
	}
	ck_assert(isim_itree_check(&t));
	ck_assert_uint_le(isim_itree_height(&t), bound);
	expect = 0;
	isim_itree_for_each_overlap(n, &t, 9, U64_MAX)
		ck_assert_int_eq(item_of(n)->tag, (int)expect++);
	ck_assert_uint_eq(expect, N);
	free(items);
}
END_TEST

START_TEST(spans_full_range)
{
	struct item full[3], low, high;
	struct isim_itree t, other;
	struct isim_itree_span_iter it;
	int n;

	isim_itree_init(&t);
	for (int i = 0; i < 3; i++) {
		full[i].node.start = 0;
		full[i].node.last = U64_MAX;
		isim_itree_insert(&t, &full[i].node);
	}
	ck_assert(isim_itree_check(&t));

	n = 0;
	isim_itree_for_each_span(&it, &t, 0, U64_MAX) {
		ck_assert_int_eq(it.is_hole, 0);
		ck_assert_uint_eq(it.start_used, 0);
		ck_assert_uint_eq(it.last_used, U64_MAX);
		n++;
	}
	ck_assert_int_eq(n, 1);

	n = 0;
	isim_itree_for_each_span(&it, &t, U64_MAX, U64_MAX) {
		ck_assert_int_eq(it.is_hole, 0);
		ck_assert_uint_eq(it.start_used, U64_MAX);
		ck_assert_uint_eq(it.last_used, U64_MAX);
		n++;
	}
	ck_assert_int_eq(n, 1);

	isim_itree_span_iter_first(&it, &t, 1000, 2000);
	ck_assert_int_eq(it.is_hole, 0);
	ck_assert_uint_eq(it.start_used, 1000);
	ck_assert_uint_eq(it.last_used, 2000);
	isim_itree_span_iter_next(&it);
	ck_assert(isim_itree_span_iter_done(&it));
	/* Stepping a finished walk is harmless. */
	isim_itree_span_iter_next(&it);
	ck_assert(isim_itree_span_iter_done(&it));

	/* Both ends of the space used, the middle a hole. */
	isim_itree_init(&other);
	low.node.start = 0;
	low.node.last = 5;
	high.node.start = U64_MAX - 5;
	high.node.last = U64_MAX;
	isim_itree_insert(&other, &low.node);
	isim_itree_insert(&other, &high.node);
	isim_itree_span_iter_first(&it, &other, 0, U64_MAX);
	ck_assert_int_eq(it.is_hole, 0);
	ck_assert_uint_eq(it.start_used, 0);
	ck_assert_uint_eq(it.last_used, 5);
	isim_itree_span_iter_next(&it);
	ck_assert_int_eq(it.is_hole, 1);
	ck_assert_uint_eq(it.start_hole, 6);
	ck_assert_uint_eq(it.last_hole, U64_MAX - 6);
	isim_itree_span_iter_next(&it);
	ck_assert_int_eq(it.is_hole, 0);
	ck_assert_uint_eq(it.start_used, U64_MAX - 5);
	ck_assert_uint_eq(it.last_used, U64_MAX);
	isim_itree_span_iter_next(&it);
	ck_assert(isim_itree_span_iter_done(&it));

	/* In a union the full-range tree swallows everything. */
	n = 0;
	isim_itree_for_each_span2(&it, &other, &t, 0, U64_MAX) {
		ck_assert_int_eq(it.is_hole, 0);
		ck_assert_uint_eq(it.start_used, 0);
		ck_assert_uint_eq(it.last_used, U64_MAX);
		n++;
	}
	ck_assert_int_eq(n, 1);

	/* Advancing past the used head lands in the hole. */
	isim_itree_span_iter_first(&it, &other, 0, U64_MAX);
	isim_itree_span_iter_advance(&it, 100);
	ck_assert_int_eq(it.is_hole, 1);
	ck_assert_uint_eq(it.start_hole, 100);
	ck_assert_uint_eq(it.last_hole, U64_MAX - 6);
	isim_itree_span_iter_advance(&it, U64_MAX);
	ck_assert_int_eq(it.is_hole, 0);
	ck_assert_uint_eq(it.start_used, U64_MAX);
	ck_assert_uint_eq(it.last_used, U64_MAX);
	isim_itree_span_iter_next(&it);
	ck_assert(isim_itree_span_iter_done(&it));
}
END_TEST

/* Touching and overlapping ranges of two trees merge into one used span. */
START_TEST(spans_union_adjacent)
{
	struct item a[2], b[2];
	struct isim_itree ta, tb;
	struct isim_itree_span_iter it;
	const struct span want[] = {
		{ .hole = true, .start = 0, .last = 9 },
		{ .hole = false, .start = 10, .last = 39 },
		{ .hole = true, .start = 40, .last = 40 },
		{ .hole = false, .start = 41, .last = 50 },
	};

	isim_itree_init(&ta);
	isim_itree_init(&tb);
	a[0].node = (struct isim_itree_node){ .start = 10, .last = 19 };
	b[0].node = (struct isim_itree_node){ .start = 20, .last = 29 };
	a[1].node = (struct isim_itree_node){ .start = 25, .last = 39 };
	b[1].node = (struct isim_itree_node){ .start = 41, .last = 60 };
	isim_itree_insert(&ta, &a[0].node);
	isim_itree_insert(&ta, &a[1].node);
	isim_itree_insert(&tb, &b[0].node);
	isim_itree_insert(&tb, &b[1].node);
	isim_itree_span_iter_first2(&it, &ta, &tb, 0, 50);
	check_span_walk(&it, want, sizeof(want) / sizeof(want[0]));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("interval_tree");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, empty_tree);
	tcase_add_test(tc, basic_overlaps);
	tcase_add_test(tc, matches_model);
	tcase_add_test(tc, find_exact_duplicates);
	tcase_add_test(tc, stays_balanced);
	tcase_add_test(tc, spans_full_range);
	tcase_add_test(tc, spans_union_adjacent);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
