/*
 * Lowest-free ID table (see idr.h).  Six levels of 64 slots cover 36 bits of
 * index space, more than the 31 bits iommufd uses.  Each node keeps two
 * masks: `used` (slot non-NULL) and `full` (leaf: slot occupied; interior:
 * child has no free slot), so the search for a free ID never descends into
 * a full subtree and empty nodes are freed as soon as they become empty.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "sim/lib/fault.h"
#include "sim/lib/idr.h"

#define IDR_BITS 6
#define IDR_SLOTS (1u << IDR_BITS)
#define IDR_LEVELS 6
#define ALL_BITS UINT64_MAX

struct isim_idr_node {
	uint64_t used;
	uint64_t full;
	void *slot[IDR_SLOTS];
};

static unsigned slot_of(uint64_t id, unsigned level)
{
	return (id >> (level * IDR_BITS)) & (IDR_SLOTS - 1);
}

static uint64_t span_of(unsigned level)
{
	return (uint64_t)1 << (level * IDR_BITS);
}

void isim_idr_init(struct isim_idr *idr)
{
	idr->root = NULL;
	idr->count = 0;
}

static void free_node(struct isim_idr_node *node, unsigned level)
{
	if (!node)
		return;
	if (level)
		for (unsigned i = 0; i < IDR_SLOTS; i++)
			free_node(node->slot[i], level - 1);
	free(node);
}

void isim_idr_destroy(struct isim_idr *idr)
{
	free_node(idr->root, IDR_LEVELS - 1);
	isim_idr_init(idr);
}

/*
 * Lowest free index in [lo, hi] inside the subtree @node (which covers
 * indices starting at @base), or false when it has none.
 */
static bool find_free(const struct isim_idr_node *node, unsigned level,
		      uint64_t base, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t span = span_of(level);

	for (unsigned i = slot_of(lo > base ? lo : base, level); i < IDR_SLOTS;
	     i++) {
		uint64_t cbase = base + i * span;
		uint64_t first = cbase > lo ? cbase : lo;

		if (first > hi)
			return false;
		if (!node || !(node->used & (1ull << i))) {
			*out = first;
			return true;
		}
		if (node->full & (1ull << i))
			continue;
		if (level && find_free(node->slot[i], level - 1, cbase, lo, hi,
				       out))
			return true;
	}
	return false;
}

/* Walk to the leaf of @id, creating nodes; the path is returned for fixups. */
static int walk_create(struct isim_idr *idr, uint64_t id,
		       struct isim_idr_node **path)
{
	struct isim_idr_node **pp = &idr->root;

	for (int level = IDR_LEVELS - 1; level >= 0; level--) {
		if (!*pp) {
			*pp = isim_kzalloc(sizeof(**pp));
			if (!*pp)
				return -ENOMEM;
		}
		path[level] = *pp;
		if (level) {
			unsigned s = slot_of(id, level);

			(*pp)->used |= 1ull << s;
			pp = (struct isim_idr_node **)&(*pp)->slot[s];
		}
	}
	return 0;
}

/* Remove nodes that the failed walk_create left empty. */
static void prune_empty(struct isim_idr *idr, uint64_t id)
{
	struct isim_idr_node *path[IDR_LEVELS] = { 0 };
	struct isim_idr_node *node = idr->root;
	int level;

	for (level = IDR_LEVELS - 1; level >= 0 && node; level--) {
		path[level] = node;
		node = level ? node->slot[slot_of(id, level)] : NULL;
	}
	for (level = 0; level < IDR_LEVELS; level++) {
		struct isim_idr_node *n = path[level];
		struct isim_idr_node *parent =
			level + 1 < IDR_LEVELS ? path[level + 1] : NULL;

		if (!n)
			continue;
		if (level && n->slot[slot_of(id, level)] == NULL)
			n->used &= ~(1ull << slot_of(id, level));
		if (n->used)
			break;
		free(n);
		if (parent)
			parent->slot[slot_of(id, level + 1)] = NULL;
		else
			idr->root = NULL;
	}
}

int isim_idr_alloc(struct isim_idr *idr, void *entry, uint32_t min,
		   uint32_t max, uint32_t *out_id)
{
	struct isim_idr_node *path[IDR_LEVELS];
	uint64_t id;
	unsigned s;

	if (isim_should_fail())
		return -ENOMEM;
	if (!find_free(idr->root, IDR_LEVELS - 1, 0, min, max, &id))
		return -EBUSY;
	if (walk_create(idr, id, path)) {
		prune_empty(idr, id);
		return -ENOMEM;
	}
	s = slot_of(id, 0);
	path[0]->slot[s] = entry;
	path[0]->used |= 1ull << s;
	path[0]->full |= 1ull << s;
	for (unsigned level = 1; level < IDR_LEVELS; level++) {
		if (path[level - 1]->full != ALL_BITS)
			break;
		path[level]->full |= 1ull << slot_of(id, level);
	}
	idr->count++;
	*out_id = (uint32_t)id;
	return 0;
}

static struct isim_idr_node *leaf_of(const struct isim_idr *idr, uint64_t id)
{
	struct isim_idr_node *node = idr->root;

	for (int level = IDR_LEVELS - 1; level > 0 && node; level--)
		node = node->slot[slot_of(id, level)];
	return node;
}

void *isim_idr_load(const struct isim_idr *idr, uint32_t id)
{
	struct isim_idr_node *leaf = leaf_of(idr, id);

	return leaf ? leaf->slot[slot_of(id, 0)] : NULL;
}

void *isim_idr_replace(struct isim_idr *idr, uint32_t id, void *entry)
{
	struct isim_idr_node *leaf = leaf_of(idr, id);
	void *old;

	if (!leaf || !leaf->slot[slot_of(id, 0)])
		return NULL;
	old = leaf->slot[slot_of(id, 0)];
	leaf->slot[slot_of(id, 0)] = entry;
	return old;
}

void *isim_idr_erase(struct isim_idr *idr, uint32_t id)
{
	struct isim_idr_node *path[IDR_LEVELS] = { 0 };
	struct isim_idr_node *node = idr->root;
	void *old;

	for (int level = IDR_LEVELS - 1; level >= 0; level--) {
		if (!node)
			return NULL;
		path[level] = node;
		if (level)
			node = node->slot[slot_of(id, level)];
	}
	old = path[0]->slot[slot_of(id, 0)];
	if (!old)
		return NULL;
	path[0]->slot[slot_of(id, 0)] = NULL;
	for (unsigned level = 0; level < IDR_LEVELS; level++) {
		uint64_t bit = 1ull << slot_of(id, level);

		path[level]->full &= ~bit;
		if (level == 0 || !path[level]->slot[slot_of(id, level)])
			path[level]->used &= ~bit;
		if (path[level]->used == 0) {
			free(path[level]);
			if (level + 1 < IDR_LEVELS)
				path[level + 1]->slot[slot_of(id, level + 1)] =
					NULL;
			else
				idr->root = NULL;
		}
	}
	idr->count--;
	return old;
}

static void *find_next(const struct isim_idr_node *node, unsigned level,
		       uint64_t base, uint64_t from, uint64_t *out)
{
	uint64_t span = span_of(level);

	for (unsigned i = slot_of(from > base ? from : base, level);
	     i < IDR_SLOTS; i++) {
		uint64_t cbase = base + i * span;
		void *found;

		if (!(node->used & (1ull << i)))
			continue;
		if (!level) {
			*out = cbase;
			return node->slot[i];
		}
		found = find_next(node->slot[i], level - 1, cbase,
				  from > cbase ? from : cbase, out);
		if (found)
			return found;
	}
	return NULL;
}

void *isim_idr_find_next(const struct isim_idr *idr, uint32_t *id)
{
	uint64_t out;
	void *entry;

	if (!idr->root)
		return NULL;
	entry = find_next(idr->root, IDR_LEVELS - 1, 0, *id, &out);
	if (entry)
		*id = (uint32_t)out;
	return entry;
}
