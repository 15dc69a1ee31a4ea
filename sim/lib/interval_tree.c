/*
 * Augmented red-black interval tree and span iterator (see interval_tree.h).
 * Nodes are ordered by start; an insert walks right past equal starts, and
 * since rotations and the successor swap in remove both preserve in-order
 * position, equal starts stay in insertion order for the node's lifetime.
 * Each node caches subtree_last, the maximum `last` over its subtree.  The
 * invariant is kept by three local rules: an insert raises the cache of
 * every node it walks past, a rotation hands the old top's cache to the new
 * top and recomputes the demoted node, and a remove recomputes the path
 * from the point where a node was spliced out up to the root before any
 * recolouring rotation runs.  Searches then prune every subtree whose cache
 * lies below the query start.
 */
#include "config.h"

#include <stddef.h>

#include "sim/lib/interval_tree.h"

static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static inline bool is_red(const struct isim_itree_node *n)
{
	return n && n->rb_red;
}

/* subtree_last of @n from its children, which must already be right. */
static void recompute_last(struct isim_itree_node *n)
{
	uint64_t m = n->last;

	if (n->rb_left)
		m = max_u64(m, n->rb_left->subtree_last);
	if (n->rb_right)
		m = max_u64(m, n->rb_right->subtree_last);
	n->subtree_last = m;
}

static void propagate_last(struct isim_itree_node *n)
{
	for (; n; n = n->rb_parent)
		recompute_last(n);
}

static void replace_child(struct isim_itree *t, struct isim_itree_node *parent,
			  struct isim_itree_node *old,
			  struct isim_itree_node *new)
{
	if (!parent)
		t->root = new;
	else if (parent->rb_left == old)
		parent->rb_left = new;
	else
		parent->rb_right = new;
}

/*
 * The subtree rooted at @x keeps the same node set across a rotation, so the
 * node that takes x's place inherits x's cache; only x, now a child, needs
 * recomputing.
 */
static void rotate_left(struct isim_itree *t, struct isim_itree_node *x)
{
	struct isim_itree_node *y = x->rb_right;

	x->rb_right = y->rb_left;
	if (y->rb_left)
		y->rb_left->rb_parent = x;
	y->rb_parent = x->rb_parent;
	replace_child(t, x->rb_parent, x, y);
	y->rb_left = x;
	x->rb_parent = y;
	y->subtree_last = x->subtree_last;
	recompute_last(x);
}

static void rotate_right(struct isim_itree *t, struct isim_itree_node *x)
{
	struct isim_itree_node *y = x->rb_left;

	x->rb_left = y->rb_right;
	if (y->rb_right)
		y->rb_right->rb_parent = x;
	y->rb_parent = x->rb_parent;
	replace_child(t, x->rb_parent, x, y);
	y->rb_right = x;
	x->rb_parent = y;
	y->subtree_last = x->subtree_last;
	recompute_last(x);
}

void isim_itree_init(struct isim_itree *t)
{
	t->root = NULL;
	t->count = 0;
}

/* Restore "no red node has a red child" after linking the red leaf @z. */
static void insert_fixup(struct isim_itree *t, struct isim_itree_node *z)
{
	struct isim_itree_node *p, *g, *u;

	while ((p = z->rb_parent) && p->rb_red) {
		/* A red node is never the root, so the grandparent exists. */
		g = p->rb_parent;
		if (p == g->rb_left) {
			u = g->rb_right;
			if (is_red(u)) {
				p->rb_red = false;
				u->rb_red = false;
				g->rb_red = true;
				z = g;
				continue;
			}
			if (z == p->rb_right) {
				rotate_left(t, p);
				z = p;
				p = z->rb_parent;
			}
			p->rb_red = false;
			g->rb_red = true;
			rotate_right(t, g);
		} else {
			u = g->rb_left;
			if (is_red(u)) {
				p->rb_red = false;
				u->rb_red = false;
				g->rb_red = true;
				z = g;
				continue;
			}
			if (z == p->rb_left) {
				rotate_right(t, p);
				z = p;
				p = z->rb_parent;
			}
			p->rb_red = false;
			g->rb_red = true;
			rotate_left(t, g);
		}
	}
	t->root->rb_red = false;
}

void isim_itree_insert(struct isim_itree *t, struct isim_itree_node *n)
{
	struct isim_itree_node **link = &t->root, *parent = NULL;

	n->rb_left = NULL;
	n->rb_right = NULL;
	n->rb_red = true;
	n->subtree_last = n->last;
	while (*link) {
		parent = *link;
		/* n joins this subtree, so its cache must cover n. */
		if (parent->subtree_last < n->last)
			parent->subtree_last = n->last;
		/* ">=" goes right: equal starts stay in insertion order. */
		link = n->start < parent->start ? &parent->rb_left :
						  &parent->rb_right;
	}
	n->rb_parent = parent;
	*link = n;
	t->count++;
	insert_fixup(t, n);
}

/*
 * Restore equal black heights after a black node was unlinked.  @x took its
 * place (possibly NULL, so its parent is passed separately) and carries an
 * extra black.
 */
static void remove_fixup(struct isim_itree *t, struct isim_itree_node *x,
			 struct isim_itree_node *xp)
{
	struct isim_itree_node *w;

	while (x != t->root && !is_red(x)) {
		/*
		 * x's side is one black short, so the sibling's side has
		 * black height >= 1 and w is never NULL.  When x is NULL and
		 * the left slot is empty, x is that left slot.
		 */
		if (x == xp->rb_left) {
			w = xp->rb_right;
			if (w->rb_red) {
				w->rb_red = false;
				xp->rb_red = true;
				rotate_left(t, xp);
				w = xp->rb_right;
			}
			if (!is_red(w->rb_left) && !is_red(w->rb_right)) {
				w->rb_red = true;
				x = xp;
				xp = x->rb_parent;
				continue;
			}
			if (!is_red(w->rb_right)) {
				w->rb_left->rb_red = false;
				w->rb_red = true;
				rotate_right(t, w);
				w = xp->rb_right;
			}
			w->rb_red = xp->rb_red;
			xp->rb_red = false;
			w->rb_right->rb_red = false;
			rotate_left(t, xp);
		} else {
			w = xp->rb_left;
			if (w->rb_red) {
				w->rb_red = false;
				xp->rb_red = true;
				rotate_right(t, xp);
				w = xp->rb_left;
			}
			if (!is_red(w->rb_left) && !is_red(w->rb_right)) {
				w->rb_red = true;
				x = xp;
				xp = x->rb_parent;
				continue;
			}
			if (!is_red(w->rb_left)) {
				w->rb_right->rb_red = false;
				w->rb_red = true;
				rotate_left(t, w);
				w = xp->rb_left;
			}
			w->rb_red = xp->rb_red;
			xp->rb_red = false;
			w->rb_left->rb_red = false;
			rotate_right(t, xp);
		}
		x = t->root;
		break;
	}
	if (x)
		x->rb_red = false;
}

static struct isim_itree_node *leftmost(struct isim_itree_node *n)
{
	while (n->rb_left)
		n = n->rb_left;
	return n;
}

void isim_itree_remove(struct isim_itree *t, struct isim_itree_node *z)
{
	struct isim_itree_node *y, *x, *xp;
	bool removed_black;

	/* y is the node physically unlinked: z itself or its successor,
	 * either way a node with at most one child. */
	y = (z->rb_left && z->rb_right) ? leftmost(z->rb_right) : z;
	x = y->rb_left ? y->rb_left : y->rb_right;
	xp = y->rb_parent;
	removed_black = !y->rb_red;

	if (x)
		x->rb_parent = xp;
	replace_child(t, xp, y, x);

	if (y != z) {
		/* The successor takes over z's slot, links and colour, so
		 * the colour that went missing is y's old one. */
		if (xp == z)
			xp = y;
		y->rb_left = z->rb_left;
		y->rb_right = z->rb_right;
		y->rb_parent = z->rb_parent;
		y->rb_red = z->rb_red;
		replace_child(t, z->rb_parent, z, y);
		if (y->rb_left)
			y->rb_left->rb_parent = y;
		if (y->rb_right)
			y->rb_right->rb_parent = y;
	}

	/* Every subtree that lost a node lies on the path from xp up (y, in
	 * z's old slot, is on it too); fix the caches before rotating. */
	propagate_last(xp);
	if (removed_black)
		remove_fixup(t, x, xp);

	t->count--;
	z->rb_parent = NULL;
	z->rb_left = NULL;
	z->rb_right = NULL;
}

struct isim_itree_node *isim_itree_first(const struct isim_itree *t)
{
	return t->root ? leftmost(t->root) : NULL;
}

struct isim_itree_node *isim_itree_next(const struct isim_itree_node *n)
{
	const struct isim_itree_node *p;

	if (n->rb_right)
		return leftmost(n->rb_right);
	while ((p = n->rb_parent) && n == p->rb_right)
		n = p;
	return (struct isim_itree_node *)p;
}

/*
 * Leftmost node of the subtree @n that intersects [start, last], given that
 * n->subtree_last >= start.  If the left subtree holds a node ending at or
 * after start, the answer is there or nowhere: that node starts no later
 * than n and everything right of n, so if it starts after last, so do they.
 */
static struct isim_itree_node *subtree_search(struct isim_itree_node *n,
					      uint64_t start, uint64_t last)
{
	for (;;) {
		if (n->rb_left && n->rb_left->subtree_last >= start) {
			n = n->rb_left;
			continue;
		}
		if (n->start > last)
			return NULL;
		if (n->last >= start)
			return n;
		if (n->rb_right && n->rb_right->subtree_last >= start) {
			n = n->rb_right;
			continue;
		}
		return NULL;
	}
}

struct isim_itree_node *isim_itree_iter_first(const struct isim_itree *t,
					      uint64_t start, uint64_t last)
{
	if (!t->root || t->root->subtree_last < start)
		return NULL;
	return subtree_search(t->root, start, last);
}

struct isim_itree_node *isim_itree_iter_next(const struct isim_itree_node *cn,
					     uint64_t start, uint64_t last)
{
	struct isim_itree_node *n = (struct isim_itree_node *)cn, *prev;

	for (;;) {
		/* Same argument as subtree_search: a right subtree that
		 * reaches start holds the answer or proves there is none. */
		if (n->rb_right && n->rb_right->subtree_last >= start)
			return subtree_search(n->rb_right, start, last);
		/* Climb to the first ancestor entered from its left side:
		 * that is the in-order successor of n's subtree. */
		do {
			prev = n;
			n = n->rb_parent;
			if (!n)
				return NULL;
		} while (prev == n->rb_right);
		if (n->start > last)
			return NULL;
		if (n->last >= start)
			return n;
	}
}

struct isim_itree_node *isim_itree_find_exact(const struct isim_itree *t,
					      uint64_t start, uint64_t last)
{
	struct isim_itree_node *n = t->root, *lb = NULL;

	/* Leftmost node with a start >= start, then scan the equal run. */
	while (n) {
		if (n->start >= start) {
			lb = n;
			n = n->rb_left;
		} else {
			n = n->rb_right;
		}
	}
	for (n = lb; n && n->start == start; n = isim_itree_next(n))
		if (n->last == last)
			return n;
	return NULL;
}

/*
 * Validate the subtree @n hanging below @parent; returns its black height
 * or -1.  *prev tracks the in-order predecessor to check the ordering.
 */
static int check_subtree(const struct isim_itree_node *n,
			 const struct isim_itree_node *parent,
			 const struct isim_itree_node **prev, size_t *count)
{
	int lh, rh;
	uint64_t m;

	if (!n)
		return 0;
	if (n->rb_parent != parent || n->start > n->last)
		return -1;
	if (n->rb_red && (is_red(n->rb_left) || is_red(n->rb_right)))
		return -1;
	lh = check_subtree(n->rb_left, n, prev, count);
	if (lh < 0)
		return -1;
	if (*prev && (*prev)->start > n->start)
		return -1;
	*prev = n;
	(*count)++;
	rh = check_subtree(n->rb_right, n, prev, count);
	if (rh < 0 || lh != rh)
		return -1;
	m = n->last;
	if (n->rb_left)
		m = max_u64(m, n->rb_left->subtree_last);
	if (n->rb_right)
		m = max_u64(m, n->rb_right->subtree_last);
	if (n->subtree_last != m)
		return -1;
	return lh + !n->rb_red;
}

bool isim_itree_check(const struct isim_itree *t)
{
	const struct isim_itree_node *prev = NULL;
	size_t count = 0;

	if (t->root && t->root->rb_red)
		return false;
	if (check_subtree(t->root, NULL, &prev, &count) < 0)
		return false;
	return count == t->count;
}

static unsigned int subtree_height(const struct isim_itree_node *n)
{
	unsigned int l, r;

	if (!n)
		return 0;
	l = subtree_height(n->rb_left);
	r = subtree_height(n->rb_right);
	return 1 + (l > r ? l : r);
}

unsigned int isim_itree_height(const struct isim_itree *t)
{
	return subtree_height(t->root);
}

/* ---------------------------------------------------------- span iterator */

/* The unconsumed node with the lowest start over all trees; ties go to the
 * lower tree index so the walk is deterministic. */
static struct isim_itree_node *span_peek(const struct isim_itree_span_iter *it,
					 unsigned int *which)
{
	struct isim_itree_node *best = NULL;

	for (unsigned int i = 0; i < it->ntrees; i++) {
		struct isim_itree_node *c = it->cursor[i];

		if (c && (!best || c->start < best->start)) {
			best = c;
			*which = i;
		}
	}
	return best;
}

static void span_consume(struct isim_itree_span_iter *it, unsigned int which)
{
	it->cursor[which] = isim_itree_iter_next(it->cursor[which],
						 it->first_index,
						 it->last_index);
}

/*
 * Fill in the span beginning at @pos (<= last_index).  Every node still
 * under a cursor ends at or after pos: the cursors only ever hold nodes
 * intersecting the window, a hole stops right before the lowest remaining
 * start, and a used run swallows every node starting up to one past its
 * end.  So if the lowest start is <= pos, pos is covered.
 */
static void span_fill(struct isim_itree_span_iter *it, uint64_t pos)
{
	struct isim_itree_node *n;
	unsigned int which = 0;
	uint64_t end;

	n = span_peek(it, &which);
	if (!n || n->start > pos) {
		/* Cursor nodes intersect the window, so n->start <= last_index
		 * and n->start > pos >= 0 keeps the subtraction in range. */
		it->is_hole = 1;
		it->start_hole = pos;
		it->last_hole = n ? n->start - 1 : it->last_index;
		return;
	}

	end = n->last;
	span_consume(it, which);
	/* Stop once the window is covered; that also keeps end + 1 from
	 * wrapping, since end < last_index <= UINT64_MAX inside the loop. */
	while (end < it->last_index && (n = span_peek(it, &which)) &&
	       n->start <= end + 1) {
		end = max_u64(end, n->last);
		span_consume(it, which);
	}
	it->is_hole = 0;
	it->start_used = pos;
	it->last_used = end < it->last_index ? end : it->last_index;
}

static void span_start(struct isim_itree_span_iter *it, uint64_t first_index)
{
	it->first_index = first_index;
	if (first_index > it->last_index) {
		it->is_hole = -1;
		return;
	}
	for (unsigned int i = 0; i < it->ntrees; i++)
		it->cursor[i] = it->trees[i] ?
			isim_itree_iter_first(it->trees[i], first_index,
					      it->last_index) : NULL;
	span_fill(it, first_index);
}

void isim_itree_span_iter_first_n(struct isim_itree_span_iter *it,
				  const struct isim_itree *const *trees,
				  unsigned int ntrees,
				  uint64_t first_index, uint64_t last_index)
{
	if (ntrees > ISIM_ITREE_SPAN_MAX_TREES)
		ntrees = ISIM_ITREE_SPAN_MAX_TREES;
	it->ntrees = ntrees;
	for (unsigned int i = 0; i < ISIM_ITREE_SPAN_MAX_TREES; i++) {
		it->trees[i] = i < ntrees ? trees[i] : NULL;
		it->cursor[i] = NULL;
	}
	it->start_hole = it->last_hole = 0;
	it->start_used = it->last_used = 0;
	it->last_index = last_index;
	span_start(it, first_index);
}

void isim_itree_span_iter_first(struct isim_itree_span_iter *it,
				const struct isim_itree *t,
				uint64_t first_index, uint64_t last_index)
{
	isim_itree_span_iter_first_n(it, &t, 1, first_index, last_index);
}

void isim_itree_span_iter_first2(struct isim_itree_span_iter *it,
				 const struct isim_itree *a,
				 const struct isim_itree *b,
				 uint64_t first_index, uint64_t last_index)
{
	const struct isim_itree *trees[2] = { a, b };

	isim_itree_span_iter_first_n(it, trees, 2, first_index, last_index);
}

void isim_itree_span_iter_next(struct isim_itree_span_iter *it)
{
	uint64_t cur_last;

	if (it->is_hole < 0)
		return;
	cur_last = it->is_hole ? it->last_hole : it->last_used;
	/* Checking for the window end first is what lets a window ending at
	 * UINT64_MAX finish without cur_last + 1 wrapping to 0. */
	if (cur_last >= it->last_index) {
		it->is_hole = -1;
		return;
	}
	span_fill(it, cur_last + 1);
}

void isim_itree_span_iter_advance(struct isim_itree_span_iter *it,
				  uint64_t new_index)
{
	if (it->is_hole < 0)
		return;
	span_start(it, new_index);
}
