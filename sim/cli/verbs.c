/*
 * What each verb of the scenario language does, through the public API
 * only (sim.h and the ioctl ABI): machines, IOMMUs, devices and memory;
 * FDs and device binding; ioctls built from the uAPI field tables; show,
 * dot, expect, poke, peek, mmap, dma, page_request, run and fail_nth
 * (the vendor verbs and `show queue` are in vendor.c).  Each returns 0
 * or the -errno the simulator gave, which the runner compares with the
 * line's expectation, or 1 when the line could not be carried out.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sim/cli/runner.h"

/* A new machine: the old one is torn down first. */
static int do_machine(struct runner *r)
{
	const struct scn_stmt *st = r->st;
	struct isim_machine_config cfg = { 0 };
	uint64_t v;

	if (r->m && r->opts->explain && !r->opts->quiet)
		fprintf(r->out, IND "· a new machine: every FD of the old one closes, its memory is freed\n");
	for (unsigned i = 0; i < st->ntok; i++) {
		const struct scn_tok *t = &st->tok[i];
		unsigned vcol = t->col + (unsigned)strlen(t->s) + 1;

		if (!t->val) {
			if (!strcmp(t->s, "threaded"))
				cfg.threaded = true;
			else if (!strcmp(t->s, "v8"))
				cfg.hw_queue_pin_v8 = true;
			else
				cfg.mock_index_quirk = true;
		} else if (!strcmp(t->s, "frag")) {
			cfg.frag = strtod(t->val, NULL);
		} else if (!strcmp(t->s, "contig")) {
			cfg.contig_algo = !strcmp(t->val, "per-page") ? 0 :
					  !strcmp(t->val, "block") ? 1 : 2;
		} else {
			if (!run_eval(r, t->val, vcol, NULL, &v))
				return 1;
			if (!strcmp(t->s, "mem"))
				cfg.mem_size = v;
			else if (!strcmp(t->s, "page"))
				cfg.page_size = (uint32_t)v;
			else if (!strcmp(t->s, "seed"))
				cfg.seed = v;
			else
				cfg.memlock_limit = v;
		}
	}
	return run_machine_start(r, &cfg);
}

/* ---------------------------------------------------------- regions */

static void region_add(struct runner *r, void *va, size_t len,
		       struct isim_fd *mmap_fd)
{
	r->regions = cli_xrealloc(r->regions,
				  (r->nregions + 1) * sizeof(*r->regions));
	r->regions[r->nregions++] = (struct region){
		.va = (uintptr_t)va, .len = len, .mmap_fd = mmap_fd,
	};
}

static void region_del(struct runner *r, uintptr_t va)
{
	for (unsigned i = 0; i < r->nregions; i++) {
		if (r->regions[i].va == va) {
			r->regions[i] = r->regions[--r->nregions];
			return;
		}
	}
}

/* Only memory the scenario made may be touched by poke, peek and dma. */
static bool region_check(struct runner *r, unsigned col, uint64_t va,
			 uint64_t len)
{
	for (unsigned i = 0; i < r->nregions; i++) {
		const struct region *g = &r->regions[i];

		if (va >= g->va && len <= g->len && va - g->va <= g->len - len)
			return true;
	}
	run_error(r, col, "[%#" PRIx64 ", +%#" PRIx64 ") is not inside memory from a mem or mmap line",
		  va, len);
	return false;
}

/* ------------------------------------------------------------ verbs */

static int do_iommu(struct runner *r)
{
	const struct scn_stmt *st = r->st;
	struct isim_iommu *iommu;
	char opts[512] = "";
	size_t used = 0;
	int rc;

	/* The driver's options: key=value words as "k=v,k=v". */

	if (run_named_find(r->iommus, r->niommus, st->tok[0].s)) {
		run_error(r, st->tok[0].col, "IOMMU '%s' exists already",
			  st->tok[0].s);
		return 1;
	}
	for (unsigned i = 2; i < st->ntok; i++) {
		used += (size_t)snprintf(opts + used, sizeof(opts) - used,
					 "%s%s=%s", used ? "," : "",
					 st->tok[i].s, st->tok[i].val);
		if (used >= sizeof(opts)) {
			run_error(r, st->tok[i].col, "driver options too long");
			return 1;
		}
	}
	rc = isim_iommu_add(r->m, st->tok[1].s, used ? opts : NULL, &iommu);
	if (!rc)
		run_named_add(&r->iommus, &r->niommus, st->tok[0].s, iommu);
	else if (rc == -ENODEV && !st->has_expect)
		run_error(r, st->tok[1].col,
			  "no IOMMU driver '%s' in this build (DRIVER is one of mock, mock-iova, tegra241-cmdqv, amd-viommu)",
			  st->tok[1].s);
	return rc;
}

static int do_device(struct runner *r)
{
	const struct scn_stmt *st = r->st;
	struct isim_iommu *iommu = NULL;
	struct isim_device *dev;
	int rc;

	if (st->ntok > 1) {
		struct named *n = run_named_find(r->iommus, r->niommus,
						 st->tok[1].s);

		if (n) {
			iommu = n->ptr;
		} else if (strcmp(st->tok[1].s, "default") &&
			   strcmp(st->tok[1].s, "mock")) {
			run_error(r, st->tok[1].col, "no IOMMU named '%s'",
				  st->tok[1].s);
			return 1;
		}
	}
	rc = isim_device_add(r->m, iommu, st->tok[0].s, &dev);
	if (!rc)
		run_named_add(&r->devices, &r->ndevices, st->tok[0].s, dev);
	return rc;
}

static int do_mem(struct runner *r)
{
	const struct scn_stmt *st = r->st;
	enum isim_backing backing = ISIM_BACKING_4K;
	uint64_t len;
	void *va;
	int rc;

	if (!run_eval_tok(r, 1, &len))
		return 1;
	if (st->ntok > 2) {
		const char *b = st->tok[2].val;

		backing = !strcmp(b, "thp") ? ISIM_BACKING_THP :
			  !strcmp(b, "hugetlb2m") ? ISIM_BACKING_HUGETLB_2M :
			  !strcmp(b, "hugetlb1g") ? ISIM_BACKING_HUGETLB_1G :
						    ISIM_BACKING_4K;
	}
	rc = isim_mem_alloc(r->m, (size_t)len, backing, &va);
	if (rc)
		return rc;
	region_add(r, va, (size_t)len, NULL);
	run_var_set(r, st->tok[0].s, (uintptr_t)va);
	return 0;
}

static int do_open(struct runner *r)
{
	struct isim_fd *fd;
	int rc;

	if (run_named_find(r->fds, r->nfds, r->st->tok[0].s)) {
		run_error(r, r->st->tok[0].col, "FD '%s' is open already",
			  r->st->tok[0].s);
		return 1;
	}
	rc = isim_open(r->m, &fd);
	if (!rc)
		run_named_add(&r->fds, &r->nfds, r->st->tok[0].s, fd);
	return rc;
}

static int do_close(struct runner *r)
{
	struct named *n = run_named_find(r->fds, r->nfds, r->st->tok[0].s);
	struct isim_fd *fd;

	if (!run_fd(r, 0))
		return 1;
	fd = n->ptr;
	for (unsigned i = 0; i < r->nregions; i++) {
		if (r->regions[i].mmap_fd == fd)
			r->regions[i--] = r->regions[--r->nregions];
	}
	isim_close(fd);
	vmm_forget_fd(r, fd);
	pthread_mutex_lock(&r->lock);
	mirror_forget_fd(r->mirror, fd);
	r->cur_fd = NULL;
	pthread_mutex_unlock(&r->lock);
	free(n->name);
	*n = r->fds[--r->nfds];
	return 0;
}

static int do_bind(struct runner *r, uint64_t *result)
{
	struct named *dev = run_named_find(r->devices, r->ndevices,
					   r->st->tok[1].s);
	struct isim_fd *fd = run_fd(r, 0);
	uint32_t id = 0;
	int rc;

	if (!fd)
		return 1;
	if (!dev) {
		run_error(r, r->st->tok[1].col, "no device named '%s'",
			  r->st->tok[1].s);
		return 1;
	}
	rc = isim_device_bind(fd, dev->ptr, &id);
	*result = id;
	return rc;
}

static int do_dev_op(struct runner *r, uint64_t *result)
{
	struct isim_fd *fd = run_fd(r, 0);
	uint64_t dev_id, pt = 0;
	uint32_t pt_id;
	int rc;

	if (!fd || !run_eval_tok(r, 1, &dev_id) ||
	    (r->st->ntok > 2 && !run_eval_tok(r, 2, &pt)))
		return 1;
	pt_id = (uint32_t)pt;
	switch (r->st->verb) {
	case V_UNBIND:
		return isim_device_unbind(fd, (uint32_t)dev_id);
	case V_DETACH:
		return isim_device_detach(fd, (uint32_t)dev_id);
	case V_ATTACH:
		rc = isim_device_attach(fd, (uint32_t)dev_id, &pt_id);
		break;
	default:
		rc = isim_device_replace(fd, (uint32_t)dev_id, &pt_id);
		break;
	}
	*result = pt_id;
	return rc;
}

/* Store @v in its field; a negative value that fits sign-extended does. */
static bool field_store(struct runner *r, unsigned col, void *buf,
			const struct cli_field *f, uint64_t v)
{
	uint8_t *p = (uint8_t *)buf + f->offset;
	unsigned bits = f->size * 8;
	uint64_t max = bits == 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1;

	/* A negative value that fits the field as signed (e.g. fd=-1). */
	if (v > max && (int64_t)v < 0 &&
	    (int64_t)v >= -(int64_t)(max / 2 + 1))
		v &= max;
	if (v > max) {
		run_error(r, col, "%#" PRIx64 " does not fit in %s (%u bits)", v,
			  f->name, bits);
		return false;
	}
	switch (f->size) {
	case 1: { uint8_t x = (uint8_t)v; memcpy(p, &x, 1); break; }
	case 2: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
	case 4: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
	default: memcpy(p, &v, 8); break;
	}
	return true;
}

uint64_t run_field_load(const void *buf, const struct cli_field *f)
{
	const uint8_t *p = (const uint8_t *)buf + f->offset;

	switch (f->size) {
	case 1: return *p;
	case 2: { uint16_t x; memcpy(&x, p, 2); return x; }
	case 4: { uint32_t x; memcpy(&x, p, 4); return x; }
	default: { uint64_t x; memcpy(&x, p, 8); return x; }
	}
}

static int do_ioctl(struct runner *r, struct ioctl_result *res)
{
	const struct scn_stmt *st = r->st;
	const struct cli_ioctl *ioc = st->ioc;
	struct isim_fd *fd = run_fd(r, 0);
	bool sized = false;
	uint64_t v;
	int rc;

	if (!fd)
		return 1;
	memset(res->buf, 0, sizeof(res->buf));
	for (unsigned i = 2; i < st->ntok; i++) {
		const struct scn_tok *t = &st->tok[i];
		unsigned vcol = t->col + (unsigned)strlen(t->s) + 1;

		if (!run_eval(r, t->val, vcol, t->field->syms, &v) ||
		    !field_store(r, vcol, res->buf, t->field, v))
			return 1;
		sized |= !strcmp(t->field->name, "size");
	}
	if (!sized)
		field_store(r, 0, res->buf, cli_field_find(ioc, "size"),
			    ioc->size);
	if (r->opts->explain && !r->opts->quiet) {
		fprintf(r->out, IND "· fields:");
		for (const struct cli_field *f = ioc->fields; f->name; f++) {
			fprintf(r->out, " %s=", f->name);
			run_print_value(r->out, run_field_load(res->buf, f));
		}
		fputc('\n', r->out);
	}
	res->shown = ioc->out ? cli_field_find(ioc, ioc->out) : NULL;
	rc = isim_ioctl(fd, ioc->request, res->buf);
	if (!rc)
		vmm_note_ioctl(r, fd, ioc->request, res->buf);
	return rc;
}

static int do_check(struct runner *r)
{
	char report[8192];
	int rc = isim_check(r->m, report, sizeof(report));

	if (rc && !r->opts->quiet) {
		fprintf(r->out, IND "invariants broken:\n");
		for (char *line = report, *nl; *line; line = nl) {
			nl = line + strcspn(line, "\n");
			fprintf(r->out, IND "  %.*s\n", (int)(nl - line), line);
			nl += *nl == '\n';
		}
	}
	return rc;
}

/* FDs a show or dot line is about: the named one, or every open one. */
static unsigned pick_fds(struct runner *r, int tok, struct cli_named_fd *v,
			 unsigned max)
{
	unsigned n = 0;

	if (tok >= 0 && (unsigned)tok < r->st->ntok) {
		struct isim_fd *fd = run_fd(r, (unsigned)tok);

		if (!fd)
			return 0;
		v[0].name = r->st->tok[tok].s;
		v[0].fd = fd;
		return 1;
	}
	for (unsigned i = 0; i < r->nfds && n < max; i++) {
		v[n].name = r->fds[i].name;
		v[n++].fd = r->fds[i].ptr;
	}
	if (!n)
		run_error(r, 0, "no FD is open");
	return n;
}

static int do_show(struct runner *r)
{
	const struct scn_stmt *st = r->st;
	const char *what = st->tok[0].s;
	struct cli_named_fd fds[16];
	unsigned n;
	uint64_t ioas;

	if (!strcmp(what, "pins")) {
		pthread_mutex_lock(&r->lock);
		show_pins(r->out, IND, r->mirror, r->page_size);
		pthread_mutex_unlock(&r->lock);
		return 0;
	}
	if (!strcmp(what, "vars")) {
		for (unsigned i = 0; i < r->nvars; i++) {
			fprintf(r->out, IND "$%s = ", r->vars[i].name);
			run_print_value(r->out, r->vars[i].value);
			fputc('\n', r->out);
		}
		return 0;
	}
	if (!strcmp(what, "queue")) {
		struct isim_fd *fd = run_fd(r, 1);
		uint64_t id;

		if (!fd || !run_eval_tok(r, 2, &id))
			return 1;
		return show_queue(r, fd, st->tok[2].col, (uint32_t)id);
	}
	if (!strcmp(what, "areas")) {
		if (!run_eval_tok(r, 1, &ioas))
			return 1;
		n = pick_fds(r, 2, fds, ARRAY_SIZE(fds));
		if (!n)
			return 1;
		for (unsigned i = 0; i < n; i++) {
			pthread_mutex_lock(&r->lock);
			show_areas(r->out, IND, r->mirror, fds[i].fd,
				   (uint32_t)ioas);
			pthread_mutex_unlock(&r->lock);
		}
		return 0;
	}
	n = pick_fds(r, 1, fds, ARRAY_SIZE(fds));
	if (!n)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		fprintf(r->out, IND "FD %s:\n", fds[i].name);
		if (!strcmp(what, "objects"))
			show_objects(r->out, IND, fds[i].fd);
		else
			show_refs(r->out, IND, fds[i].fd);
	}
	return 0;
}

static int do_dot(struct runner *r)
{
	const char *path = r->st->tok[0].s;
	struct cli_named_fd fds[16];
	unsigned n = pick_fds(r, 1, fds, ARRAY_SIZE(fds));
	FILE *f;
	int rc;

	if (!n)
		return 1;
	f = strcmp(path, "-") ? fopen(path, "w") : r->out;
	if (!f) {
		run_error(r, r->st->tok[0].col, "cannot write %s: %s", path,
			  strerror(errno));
		return 1;
	}
	rc = dot_write(f, fds, n);
	if (f != r->out && fclose(f))
		rc = -errno;
	if (rc)
		run_error(r, r->st->tok[0].col, "writing %s failed", path);
	else if (f != r->out && !r->opts->quiet)
		fprintf(r->out, IND "object graph written to %s\n", path);
	return rc ? 1 : 0;
}

static int do_expect(struct runner *r)
{
	const struct scn_stmt *st = r->st;
	uint64_t a, b = 0;
	const char *op = "!=";
	bool holds;

	if (!run_eval_tok(r, 0, &a) || (st->ntok == 3 && !run_eval_tok(r, 2, &b)))
		return 1;
	if (st->ntok == 3)
		op = st->tok[1].s;
	if (!strcmp(op, "=="))
		holds = a == b;
	else if (!strcmp(op, "!="))
		holds = a != b;
	else if (!strcmp(op, "<"))
		holds = a < b;
	else if (!strcmp(op, "<="))
		holds = a <= b;
	else if (!strcmp(op, ">"))
		holds = a > b;
	else
		holds = a >= b;
	if (!holds) {
		fflush(r->out);
		fprintf(stderr, "%s:%u: expected %s %s %s, got %#" PRIx64 " %s %#" PRIx64 "\n",
			r->sc->file, st->line, st->tok[0].s,
			st->ntok == 3 ? op : "!=", st->ntok == 3 ? st->tok[2].s : "0",
			a, op, b);
		return 1;
	}
	return 0;
}

/* size=N of poke and peek (checked by the parser); 8 by default. */
static unsigned size_arg(const struct scn_stmt *st)
{
	for (unsigned i = 0; i < st->ntok; i++) {
		if (st->tok[i].val)
			return (unsigned)strtoul(st->tok[i].val, NULL, 10);
	}
	return 8;
}

static int do_poke_peek(struct runner *r, uint64_t *result)
{
	unsigned size = size_arg(r->st);
	uint64_t addr, v = 0;

	if (!run_eval_tok(r, 0, &addr) ||
	    (r->st->verb == V_POKE && !run_eval_tok(r, 1, &v)) ||
	    !region_check(r, r->st->tok[0].col, addr, size))
		return 1;
	/* The low @size bytes: the simulated machine is little endian. */
	if (r->st->verb == V_POKE)
		memcpy((void *)(uintptr_t)addr, &v, size);
	else
		memcpy(result, (void *)(uintptr_t)addr, size);
	return 0;
}

static int do_mmap(struct runner *r, uint64_t *result)
{
	struct isim_fd *fd = run_fd(r, 0);
	uint64_t a, b;
	void *p = NULL;
	int rc;

	if (!fd || !run_eval_tok(r, 1, &a) || !run_eval_tok(r, 2, &b))
		return 1;
	if (r->st->verb == V_MUNMAP) {
		rc = isim_munmap(fd, (void *)(uintptr_t)a, (size_t)b);
		if (!rc)
			region_del(r, (uintptr_t)a);
		return rc;
	}
	rc = isim_mmap(fd, a, (size_t)b, PROT_READ | PROT_WRITE, MAP_SHARED,
		       &p);
	if (!rc) {
		region_add(r, p, (size_t)b, fd);
		*result = (uintptr_t)p;
	}
	return rc;
}

static int do_dma(struct runner *r)
{
	struct named *dev = run_named_find(r->devices, r->ndevices,
					   r->st->tok[0].s);
	uint64_t iova, addr, len;

	if (!dev) {
		run_error(r, r->st->tok[0].col, "no device named '%s'",
			  r->st->tok[0].s);
		return 1;
	}
	if (!run_eval_tok(r, 2, &iova) || !run_eval_tok(r, 3, &addr) ||
	    !run_eval_tok(r, 4, &len) ||
	    !region_check(r, r->st->tok[3].col, addr, len))
		return 1;
	return isim_dma(dev->ptr, iova, (void *)(uintptr_t)addr, (size_t)len,
			strcmp(r->st->tok[1].s, "write") ? 0 : ISIM_DMA_WRITE);
}

/* A PCIe page request by the device: flags= READ|WRITE|EXEC|PRIV|LAST. */
static int do_page_request(struct runner *r)
{
	const struct scn_stmt *st = r->st;
	struct named *dev = run_named_find(r->devices, r->ndevices,
					   st->tok[0].s);
	uint64_t addr, group, pasid = 0, flags = ISIM_PRQ_READ | ISIM_PRQ_LAST;
	bool has_pasid = false;

	if (!dev) {
		run_error(r, st->tok[0].col, "no device named '%s'", st->tok[0].s);
		return 1;
	}
	if (!run_eval_tok(r, 1, &addr) || !run_eval_tok(r, 2, &group))
		return 1;
	for (unsigned i = 3; i < st->ntok; i++) {
		const struct scn_tok *t = &st->tok[i];
		unsigned vcol = t->col + (unsigned)strlen(t->s) + 1;
		bool is_flags = !strcmp(t->s, "flags");

		if (!run_eval(r, t->val, vcol, is_flags ? cli_prq_syms : NULL,
			      is_flags ? &flags : &pasid))
			return 1;
		has_pasid |= !is_flags;
	}
	if (has_pasid)
		flags |= ISIM_PRQ_PASID;
	return isim_device_page_request(dev->ptr, (uint32_t)pasid, addr,
					(unsigned)flags, (uint16_t)group);
}

/* ------------------------------------------------------------- execute */

int run_execute(struct runner *r, struct ioctl_result *res,
		uint64_t *result)
{
	const struct scn_stmt *st = r->st;

	switch (st->verb) {
	case V_MACHINE:
		return do_machine(r);
	case V_IOMMU:
		return do_iommu(r);
	case V_DEVICE:
		return do_device(r);
	case V_MEM:
		return do_mem(r);
	case V_OPEN:
		return do_open(r);
	case V_CLOSE:
		return do_close(r);
	case V_BIND:
		return do_bind(r, result);
	case V_UNBIND:
	case V_DETACH:
	case V_ATTACH:
	case V_REPLACE:
		return do_dev_op(r, result);
	case V_IOCTL:
		return do_ioctl(r, res);
	case V_RUN: {
		uint64_t budget = 1000000;

		if (st->ntok && !run_eval_tok(r, 0, &budget))
			return 1;
		*result = isim_hw_run(r->m, (unsigned)budget);
		return 0;
	}
	case V_CHECK:
		return do_check(r);
	case V_SHOW:
		return do_show(r);
	case V_DOT:
		return do_dot(r);
	case V_SET:
		if (!run_eval_tok(r, 1, result))
			return 1;
		run_var_set(r, st->tok[0].s, *result);
		return 0;
	case V_EXPECT:
		return do_expect(r);
	case V_POKE:
	case V_PEEK:
		return do_poke_peek(r, result);
	case V_MMAP:
	case V_MUNMAP:
		return do_mmap(r, result);
	case V_FAIL_NTH:
		if (!run_eval_tok(r, 0, result))
			return 1;
		isim_fail_nth_set((unsigned)*result);
		return 0;
	case V_DMA:
		return do_dma(r);
	case V_PAGE_REQUEST:
		return do_page_request(r);
	case V_CMDQV:
	case V_AMD:
		return run_vendor(r, result);
	case V_SAY:
		break;
	}
	return 0;
}

