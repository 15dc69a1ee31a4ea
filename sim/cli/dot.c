/*
 * The object graph as Graphviz DOT: one cluster per open iommufd, one
 * node per object (type, ID, users, wait_cnt; reserved IDs dashed), and
 * one edge per reference an object holds on another, taken from
 * isim_for_each_ref.  A hold from outside the table (a driver, an open
 * event fd) and a live mmap's hold on its vIOMMU get a small source node
 * of their own, so that every edge into a node is one of its `users`.
 */
#include "config.h"

#include <string.h>

#include "sim/cli/cli.h"

struct dot_ctx {
	FILE *f;
	unsigned c;		/* cluster number */
	int err;
};

static const char *type_color(const char *type)
{
	static const struct {
		const char *type, *color;
	} colors[] = {
		{ "ioas", "#cfe2ff" },		{ "hwpt_paging", "#fff3cd" },
		{ "hwpt_nested", "#ffe5b4" },	{ "device", "#e2e3e5" },
		{ "access", "#e8d7f5" },	{ "viommu", "#d1e7dd" },
		{ "vdevice", "#e3f2d0" },	{ "veventq", "#cff4fc" },
		{ "hw_queue", "#f8d7da" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(colors); i++) {
		if (!strcmp(colors[i].type, type))
			return colors[i].color;
	}
	return "#ffffff";
}

static void dot_node(void *arg, const struct isim_object_info *o)
{
	struct dot_ctx *d = arg;

	if (o->type)
		fprintf(d->f,
			"    c%u_%u [label=\"%s %u\\nusers=%d wait_cnt=%d\", fillcolor=\"%s\"];\n",
			d->c, o->id, o->type, o->id, o->users, o->wait_cnt,
			type_color(o->type));
	else
		fprintf(d->f,
			"    c%u_%u [label=\"ID %u\\n(reserved)\", style=dashed];\n",
			d->c, o->id, o->id);
}

static void dot_edge(void *arg, const struct isim_ref_info *r)
{
	struct dot_ctx *d = arg;
	const char *style = r->wait ? " [style=bold, label=\"wait\"]" : "";

	if (!r->from) {
		fprintf(d->f,
			"    c%u_mmap%u [label=\"mmap\", shape=note, style=\"\"];\n"
			"    c%u_mmap%u -> c%u_%u [style=dashed];\n",
			d->c, r->to, d->c, r->to, d->c, r->to);
	} else if (r->from == r->to) {
		fprintf(d->f,
			"    c%u_out%u [label=\"held outside\", shape=plaintext, style=\"\"];\n"
			"    c%u_out%u -> c%u_%u [style=dashed];\n",
			d->c, r->to, d->c, r->to, d->c, r->to);
	} else {
		fprintf(d->f, "    c%u_%u -> c%u_%u%s;\n", d->c, r->from, d->c,
			r->to, style);
	}
}

int dot_write(FILE *f, const struct cli_named_fd *fds, unsigned n)
{
	struct dot_ctx d = { .f = f };

	fprintf(f,
		"digraph iommufd {\n"
		"  // an edge A -> B: object A holds a reference on B\n"
		"  rankdir=BT;\n"
		"  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n");
	for (unsigned i = 0; i < n; i++) {
		d.c = i;
		fprintf(f, "  subgraph cluster_%u {\n    label=\"iommufd %s\";\n",
			i, fds[i].name);
		isim_for_each_object(fds[i].fd, dot_node, &d);
		if (isim_for_each_ref(fds[i].fd, dot_edge, &d))
			d.err = -1;
		fprintf(f, "  }\n");
	}
	fprintf(f, "}\n");
	return ferror(f) ? -1 : d.err;
}
