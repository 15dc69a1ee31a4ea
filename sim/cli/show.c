/*
 * The `show` lines of a scenario.  Objects and their reference edges come
 * from the public table walkers (isim_for_each_object, isim_for_each_ref).
 * IOAS areas and pinned frames have no public walker, so this module
 * keeps a mirror of them fed by trace points: iopt.area_insert and
 * iopt.area_remove per IOAS (of the context the runner says is being
 * called), pages.pin and pages.unpin per frame.  The mirror only ever
 * reflects what the simulator reported; it models nothing by itself.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "sim/cli/cli.h"

struct area_rec {
	struct isim_fd *fd;
	uint32_t ioas;
	uint64_t iova, last;
};

struct pin_rec {
	uint64_t pfn;
	uint64_t pins;
	UT_hash_handle hh;
};

struct cli_mirror {
	struct area_rec *areas;
	size_t nareas;
	struct pin_rec *pins;
};

struct cli_mirror *mirror_new(void)
{
	struct cli_mirror *mi = cli_xrealloc(NULL, sizeof(*mi));

	memset(mi, 0, sizeof(*mi));
	return mi;
}

void mirror_reset(struct cli_mirror *mi)
{
	struct pin_rec *p, *tmp;

	HASH_ITER(hh, mi->pins, p, tmp) {
		HASH_DEL(mi->pins, p);
		free(p);
	}
	free(mi->areas);
	mi->areas = NULL;
	mi->nareas = 0;
}

void mirror_free(struct cli_mirror *mi)
{
	if (!mi)
		return;
	mirror_reset(mi);
	free(mi);
}

void mirror_forget_fd(struct cli_mirror *mi, struct isim_fd *fd)
{
	size_t j = 0;

	for (size_t i = 0; i < mi->nareas; i++) {
		if (mi->areas[i].fd != fd)
			mi->areas[j++] = mi->areas[i];
	}
	mi->nareas = j;
}

static void pins_add(struct cli_mirror *mi, uint64_t pfn, uint64_t n,
		     bool pin)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t key = pfn + i;
		struct pin_rec *p;

		HASH_FIND(hh, mi->pins, &key, sizeof(key), p);
		if (pin) {
			if (!p) {
				p = cli_xrealloc(NULL, sizeof(*p));
				memset(p, 0, sizeof(*p));
				p->pfn = key;
				HASH_ADD(hh, mi->pins, pfn, sizeof(p->pfn), p);
			}
			p->pins++;
		} else if (p && !--p->pins) {
			HASH_DEL(mi->pins, p);
			free(p);
		}
	}
}

void mirror_event(struct cli_mirror *mi, struct isim_fd *cur,
		  const char *point, const char *args)
{
	uint64_t a, b, c;

	bool pin = !strcmp(point, "pages.pin");

	if (pin || !strcmp(point, "pages.unpin")) {
		if (cli_arg_u64(args, "pfn", &a) && cli_arg_u64(args, "n", &b))
			pins_add(mi, a, b, pin);
		return;
	}
	if (strncmp(point, "iopt.area_", 10) || !cur ||
	    !cli_arg_u64(args, "ioas", &a) || !cli_arg_u64(args, "iova", &b) ||
	    !cli_arg_u64(args, "last", &c))
		return;
	if (!strcmp(point, "iopt.area_insert")) {
		mi->areas = cli_xrealloc(mi->areas,
					 (mi->nareas + 1) * sizeof(*mi->areas));
		mi->areas[mi->nareas++] = (struct area_rec){
			.fd = cur, .ioas = (uint32_t)a, .iova = b, .last = c,
		};
		return;
	}
	for (size_t i = 0; i < mi->nareas; i++) {
		struct area_rec *ar = &mi->areas[i];

		if (ar->fd == cur && ar->ioas == a && ar->iova == b &&
		    ar->last == c) {
			*ar = mi->areas[--mi->nareas];
			return;
		}
	}
}

static void print_size(FILE *f, uint64_t bytes)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB",
					     "TiB" };
	unsigned u = 0;

	while (u < 4 && bytes >= 1024 && !(bytes % 1024)) {
		bytes /= 1024;
		u++;
	}
	fprintf(f, "%" PRIu64 " %s", bytes, units[u]);
}

static void object_row(void *arg, const struct isim_object_info *o)
{
	FILE *f = ((void **)arg)[0];
	const char *indent = ((void **)arg)[1];

	if (o->type)
		fprintf(f, "%s%5u  %-12s %5d %9d\n", indent, o->id, o->type,
			o->users, o->wait_cnt);
	else
		fprintf(f, "%s%5u  (reserved: being created, or a tombstone)\n",
			indent, o->id);
}

void show_objects(FILE *f, const char *indent, struct isim_fd *fd)
{
	void *arg[2] = { f, (void *)indent };

	fprintf(f, "%s   ID  type         users  wait_cnt\n", indent);
	isim_for_each_object(fd, object_row, arg);
}

static void ref_row(void *arg, const struct isim_ref_info *r)
{
	FILE *f = ((void **)arg)[0];
	const char *indent = ((void **)arg)[1];

	if (!r->from)
		fprintf(f, "%s  a live mmap holds %u\n", indent, r->to);
	else if (r->from == r->to)
		fprintf(f, "%s  %u is held from outside the table (driver or fd)\n",
			indent, r->to);
	else
		fprintf(f, "%s  %u holds %u%s\n", indent, r->from, r->to,
			r->wait ? " (and waits on it)" : "");
}

void show_refs(FILE *f, const char *indent, struct isim_fd *fd)
{
	void *arg[2] = { f, (void *)indent };

	fprintf(f, "%sreferences (each adds one to the target's users):\n",
		indent);
	if (isim_for_each_ref(fd, ref_row, arg))
		fprintf(f, "%s  (incomplete: out of memory)\n", indent);
}

static int area_cmp(const void *a, const void *b)
{
	const struct area_rec *x = a, *y = b;

	return x->iova < y->iova ? -1 : x->iova > y->iova;
}

void show_areas(FILE *f, const char *indent, const struct cli_mirror *mi,
		struct isim_fd *fd, uint32_t ioas)
{
	struct area_rec *v = cli_xrealloc(NULL, mi->nareas * sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < mi->nareas; i++) {
		if (mi->areas[i].fd == fd && mi->areas[i].ioas == ioas)
			v[n++] = mi->areas[i];
	}
	qsort(v, n, sizeof(*v), area_cmp);
	fprintf(f, "%sIOAS %u: %zu area%s\n", indent, ioas, n,
		n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s  [0x%" PRIx64 ", 0x%" PRIx64 "]  ", indent,
			v[i].iova, v[i].last);
		print_size(f, v[i].last - v[i].iova + 1);
		fputc('\n', f);
	}
	free(v);
}

static int pfn_cmp(const void *a, const void *b)
{
	const struct pin_rec *const *x = a, *const *y = b;

	return (*x)->pfn < (*y)->pfn ? -1 : (*x)->pfn > (*y)->pfn;
}

void show_pins(FILE *f, const char *indent, const struct cli_mirror *mi,
	       uint64_t page_size)
{
	unsigned n = HASH_COUNT(mi->pins), i = 0, runs = 0;
	struct pin_rec **v = cli_xrealloc(NULL, n * sizeof(*v));
	struct pin_rec *p, *tmp;

	HASH_ITER(hh, mi->pins, p, tmp)
		v[i++] = p;
	qsort(v, n, sizeof(*v), pfn_cmp);
	for (i = 0; i < n; i++)
		runs += !i || v[i]->pfn != v[i - 1]->pfn + 1;
	fprintf(f, "%s%u pinned frame%s in %u physically contiguous run%s\n",
		indent, n, n == 1 ? "" : "s", runs, runs == 1 ? "" : "s");
	for (i = 0; i < n;) {
		unsigned j = i + 1;
		uint64_t lo = v[i]->pins, hi = v[i]->pins;

		while (j < n && v[j]->pfn == v[j - 1]->pfn + 1) {
			lo = v[j]->pins < lo ? v[j]->pins : lo;
			hi = v[j]->pins > hi ? v[j]->pins : hi;
			j++;
		}
		fprintf(f, "%s  pfn 0x%" PRIx64, indent, v[i]->pfn);
		if (j - i > 1)
			fprintf(f, "-0x%" PRIx64, v[j - 1]->pfn);
		fprintf(f, "  PA 0x%" PRIx64 "-0x%" PRIx64 "  %u frame%s, pinned ",
			v[i]->pfn * page_size, (v[j - 1]->pfn + 1) * page_size - 1,
			j - i, j - i == 1 ? "" : "s");
		if (lo == hi)
			fprintf(f, "%" PRIu64 "x\n", lo);
		else
			fprintf(f, "%" PRIu64 "-%" PRIu64 "x\n", lo, hi);
		i = j;
	}
	free(v);
}
