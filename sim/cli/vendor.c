/*
 * The vendor verbs' shared part: `cmdqv` and `amd` lines are dispatched to
 * vendor_cmdqv.c and vendor_amd.c, and `show queue` to the model of the
 * queue's type; here are what both need: the subcommand, opcode and field
 * tables the parser checks a line against (cli.h), the helpers that read a
 * line's arguments and store its key=values into a command struct, and the
 * record of what the scenario's VMM did (vendor.h).
 *
 * To find a queue's ring in guest RAM the program keeps what a VMM knows
 * because it did it: the ioctls that succeeded (IOAS_MAP's user_va and
 * IOVA, HWPT_ALLOC's IOAS, VIOMMU_ALLOC's parent and type,
 * HW_QUEUE_ALLOC's vIOMMU, type, index, IOVA and length).  An IOAS_UNMAP
 * does not move the guest's RAM, so mappings are remembered after it: the
 * guest still writes its ring where it always did, whether or not the
 * IOMMU can still reach it.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>

#include "sim/cli/vendor.h"

/* ------------------------------------------------------ what the VMM did */

struct cli_vmm *vendor_vmm(struct runner *r)
{
	if (!r->vmm) {
		r->vmm = cli_xrealloc(NULL, sizeof(*r->vmm));
		memset(r->vmm, 0, sizeof(*r->vmm));
	}
	return r->vmm;
}

static void rec_add(struct runner *r, const struct rec *x)
{
	struct cli_vmm *vm = vendor_vmm(r);

	vm->v = cli_xrealloc(vm->v, (vm->n + 1) * sizeof(*vm->v));
	vm->v[vm->n++] = *x;
}

/* Keep the records @keep says yes to, in order. */
static void rec_filter(struct runner *r, bool (*drop)(const struct rec *,
						      const void *),
		       const void *arg)
{
	struct cli_vmm *vm = r->vmm;
	unsigned j = 0;

	if (!vm)
		return;
	for (unsigned i = 0; i < vm->n; i++) {
		if (!drop(&vm->v[i], arg))
			vm->v[j++] = vm->v[i];
	}
	vm->n = j;
}

struct fd_id {
	struct isim_fd *fd;
	uint32_t id;
};

static bool drop_obj(const struct rec *x, const void *arg)
{
	const struct fd_id *k = arg;

	return x->fd == k->fd && x->kind != REC_MAP && x->id == k->id;
}

static bool drop_fd(const struct rec *x, const void *arg)
{
	return x->fd == arg;
}

void vmm_note_ioctl(struct runner *r, struct isim_fd *fd,
		    unsigned long request, const void *buf)
{
	struct rec x = { .fd = fd };

	switch (request) {
	case IOMMU_IOAS_MAP: {
		const struct iommu_ioas_map *c = buf;

		x.kind = REC_MAP;
		x.up = c->ioas_id;
		x.iova = c->iova;
		x.length = c->length;
		x.user_va = c->user_va;
		break;
	}
	case IOMMU_HWPT_ALLOC: {
		const struct iommu_hwpt_alloc *c = buf;

		x.kind = REC_HWPT;
		x.id = c->out_hwpt_id;
		x.up = c->pt_id;
		break;
	}
	case IOMMU_VIOMMU_ALLOC: {
		const struct iommu_viommu_alloc *c = buf;

		x.kind = REC_VIOMMU;
		x.id = c->out_viommu_id;
		x.up = c->hwpt_id;
		x.type = c->type;
		break;
	}
	case IOMMU_HW_QUEUE_ALLOC: {
		const struct iommu_hw_queue_alloc *c = buf;

		x.kind = REC_HWQ;
		x.id = c->out_hw_queue_id;
		x.up = c->viommu_id;
		x.type = c->type;
		x.index = c->index;
		x.iova = c->nesting_parent_iova;
		x.length = c->length;
		break;
	}
	case IOMMU_DESTROY: {
		const struct iommu_destroy *c = buf;
		struct fd_id k = { fd, c->id };

		rec_filter(r, drop_obj, &k);
		return;
	}
	default:
		return;
	}
	if (x.kind != REC_MAP) {
		struct fd_id k = { fd, x.id };

		/* An ID handed out again replaces what was known of it. */
		rec_filter(r, drop_obj, &k);
	}
	rec_add(r, &x);
}

void vmm_forget_fd(struct runner *r, struct isim_fd *fd)
{
	rec_filter(r, drop_fd, fd);
}

void vmm_reset(struct runner *r)
{
	if (r->vmm) {
		free(r->vmm->v);
		free(r->vmm);
		r->vmm = NULL;
	}
}

/* The newest record of @kind with @id on @fd. */
struct rec *vendor_rec_find(struct runner *r, struct isim_fd *fd,
			    enum rec_kind kind, uint32_t id)
{
	struct cli_vmm *vm = vendor_vmm(r);

	for (unsigned i = vm->n; i-- > 0;) {
		struct rec *x = &vm->v[i];

		if (x->fd == fd && x->kind == kind && x->id == id)
			return x;
	}
	return NULL;
}

/*
 * Where guest-physical [@gpa, +@len) is in the VMM's memory: the IOAS_MAP
 * that put it there, in the IOAS under the vIOMMU's nesting parent.
 */
void *vendor_guest_va(struct runner *r, struct isim_fd *fd, uint32_t viommu,
		      uint64_t gpa, uint64_t len)
{
	struct rec *vi = vendor_rec_find(r, fd, REC_VIOMMU, viommu);
	struct rec *hp = vi ? vendor_rec_find(r, fd, REC_HWPT, vi->up) : NULL;
	struct cli_vmm *vm = vendor_vmm(r);

	for (unsigned i = vm->n; i-- > 0;) {
		const struct rec *m = &vm->v[i];

		if (m->kind != REC_MAP || m->fd != fd || (hp && m->up != hp->up))
			continue;
		if (gpa >= m->iova && gpa - m->iova < m->length &&
		    len <= m->length - (gpa - m->iova))
			return (void *)(uintptr_t)(m->user_va + (gpa - m->iova));
	}
	return NULL;
}

/* Is @va the start of a live mmap of @fd? */
bool vendor_mmapped(struct runner *r, struct isim_fd *fd, const void *va)
{
	for (unsigned i = 0; i < r->nregions; i++) {
		if (r->regions[i].mmap_fd == fd &&
		    r->regions[i].va == (uintptr_t)va)
			return true;
	}
	return false;
}

/* ------------------------------------------------ subcommands and fields */

const char *const vendor_cmdqv_regs[] = { "CONS", "PROD", "CONFIG",
					   "STATUS", "GERROR", "GERRORN", NULL };
const unsigned vendor_cmdqv_reg_off[] = {
	ISIM_VCMDQ_CONS, ISIM_VCMDQ_PROD, ISIM_VCMDQ_CONFIG, ISIM_VCMDQ_STATUS,
	ISIM_VCMDQ_GERROR, ISIM_VCMDQ_GERRORN,
};
static const char *const iotlb_ops[] = { "fill", "has", NULL };
static const char *const amd_logs[] = { "evt", "ppr", NULL };

#define CSYM(name, full, value) { name, full, value }

/* The guest's Control register (native offset 0x18), as the spec names it. */
static const struct cli_sym amd_control_syms[] = {
	CSYM("EVT_LOG_EN", "EventLogEn", 1ull << 2),
	CSYM("EVT_INT_EN", "EventIntEn", 1ull << 3),
	CSYM("COMWAIT_INT_EN", "ComWaitIntEn", 1ull << 4),
	CSYM("CMD_EN", "CmdBufEn", 1ull << 12),
	CSYM("PPR_LOG_EN", "PPRLogEn", 1ull << 13),
	CSYM("PPR_INT_EN", "PPRIntEn", 1ull << 14),
	CSYM("PPR_EN", "PPREn", 1ull << 15),
	{ NULL, NULL, 0 }
};

/* The status register (native 0x2020). */
const struct cli_sym vendor_amd_status_syms[] = {
	CSYM("EVT_OVERFLOW", "EventOverflow", AMD_STS_EVT_OVERFLOW),
	CSYM("EVT_INT", "EventLogInt", AMD_STS_EVT_INT),
	CSYM("COMWAIT_INT", "ComWaitInt", AMD_STS_COMWAIT_INT),
	CSYM("EVT_RUN", "EventLogRun", AMD_STS_EVT_RUN),
	CSYM("CMD_RUN", "CmdBufRun", AMD_STS_CMD_RUN),
	CSYM("PPR_OVERFLOW", "PPROverflow", AMD_STS_PPR_OVERFLOW),
	CSYM("PPR_INT", "PPRInt", AMD_STS_PPR_INT),
	CSYM("PPR_RUN", "PPRLogRun", AMD_STS_PPR_RUN),
	{ NULL, NULL, 0 }
};

/* The subcommands (struct cli_vsub in cli.h says what each column is). */
static const struct cli_vsub cmdqv_subs[] = {
	{ "enable", "v", NULL, NULL, NULL, NULL, "cmdqv FD enable HWQ" },
	{ "disable", "v", NULL, NULL, NULL, NULL, "cmdqv FD disable HWQ" },
	{ "push", "vo", NULL, NULL, NULL, "slot",
	  "cmdqv FD push HWQ OPCODE [field=VALUE ...] | push HWQ raw dw0=V dw1=V" },
	{ "doorbell", "v", NULL, NULL, NULL, "prod",
	  "cmdqv FD doorbell HWQ" },
	{ "ack", "v", NULL, NULL, NULL, "gerror", "cmdqv FD ack HWQ" },
	{ "skip", "v", NULL, NULL, NULL, "cerror", "cmdqv FD skip HWQ" },
	{ "reg", "vw", vendor_cmdqv_regs, "VCMDQ register", NULL, "value",
	  "cmdqv FD reg HWQ CONS|PROD|CONFIG|STATUS|GERROR|GERRORN" },
	{ "iotlb", "vwvv", iotlb_ops, "IOTLB action", NULL, "cached",
	  "cmdqv FD iotlb VIOMMU fill|has ASID VA" },
	{ "vevents", "v", NULL, NULL, NULL, "events",
	  "cmdqv FD vevents EVENT_FD" },
	{ NULL, NULL, NULL, NULL, NULL, NULL, NULL }
};

static const struct cli_vsub amd_subs[] = {
	{ "control", "v", NULL, NULL, amd_control_syms, NULL,
	  "amd FD control VALUE [viommu=ID]   # CMD_EN|EVT_LOG_EN|PPR_LOG_EN|PPR_EN|..." },
	{ "cmd", "o", NULL, NULL, NULL, "offset",
	  "amd FD cmd OPCODE [field=VALUE ...] [viommu=ID] | cmd raw q0=V q1=V" },
	{ "tail", "", NULL, NULL, NULL, "tail", "amd FD tail [viommu=ID]" },
	{ "reset", "", NULL, NULL, NULL, NULL, "amd FD reset [viommu=ID]" },
	{ "log", "w", amd_logs, "log", NULL, "entries",
	  "amd FD log evt|ppr [viommu=ID]" },
	{ "status", "", NULL, NULL, NULL, "status", "amd FD status [viommu=ID]" },
	{ "clear", "v", NULL, NULL, vendor_amd_status_syms, NULL,
	  "amd FD clear BITS [viommu=ID]   # EVT_INT|COMWAIT_INT|EVT_OVERFLOW|..." },
	{ "responses", "d", NULL, NULL, NULL, "responses",
	  "amd FD responses DEVICE" },
	{ NULL, NULL, NULL, NULL, NULL, NULL, NULL }
};

static const struct cli_vsub *subs_of(enum scn_verb v)
{
	return v == V_CMDQV ? cmdqv_subs : amd_subs;
}

const struct cli_vsub *cli_vsub_find(enum scn_verb v, const char *name)
{
	for (const struct cli_vsub *d = subs_of(v); d->name; d++) {
		if (!strcmp(d->name, name))
			return d;
	}
	return NULL;
}

void cli_vsub_suggest(enum scn_verb v, struct cli_suggest *s)
{
	for (const struct cli_vsub *d = subs_of(v); d->name; d++)
		cli_suggest_add(s, d->name);
}

#define IS_BOOL(x) _Generic((x), bool: true, default: false)
#define SF(f) { #f, offsetof(struct isim_smmu_cmd, f), \
		sizeof(((struct isim_smmu_cmd *)0)->f), \
		IS_BOOL(((struct isim_smmu_cmd *)0)->f) }

const struct mfield vendor_smmu_fields[] = {
	SF(ssec), SF(ssv), SF(leaf), SF(global), SF(sid), SF(ssid), SF(vmid),
	SF(asid), SF(num), SF(scale), SF(ttl), SF(tg), SF(addr), SF(size),
	SF(range), SF(cs), SF(msh), SF(msiattr), SF(msidata), SF(msiaddr),
	SF(grpid), SF(stag), SF(resp), { NULL, 0, 0, false }
};

#define AF(m, f) { #f, offsetof(struct amd_cmd, m.f), \
		   sizeof(((struct amd_cmd *)0)->m.f), \
		   IS_BOOL(((struct amd_cmd *)0)->m.f) }
#define FEND { NULL, 0, 0, false }

static const struct mfield amd_comp_wait[] = {
	AF(comp_wait, s), AF(comp_wait, i), AF(comp_wait, f),
	AF(comp_wait, store_addr), AF(comp_wait, store_data), FEND
};
static const struct mfield amd_inv_dte[] = { AF(inv_dte, devid), FEND };
static const struct mfield amd_inv_pages[] = {
	AF(inv_pages, pasid), AF(inv_pages, domid), AF(inv_pages, s),
	AF(inv_pages, pde), AF(inv_pages, gn), AF(inv_pages, addr), FEND
};
static const struct mfield amd_inv_iotlb[] = {
	AF(inv_iotlb, devid), AF(inv_iotlb, pasid), AF(inv_iotlb, maxpend),
	AF(inv_iotlb, queueid), AF(inv_iotlb, s), AF(inv_iotlb, gn),
	AF(inv_iotlb, type), AF(inv_iotlb, addr), FEND
};
static const struct mfield amd_inv_irt[] = { AF(inv_irt, devid), FEND };
static const struct mfield amd_prefetch[] = {
	AF(prefetch, devid), AF(prefetch, count), AF(prefetch, pasid),
	AF(prefetch, s), AF(prefetch, gn), AF(prefetch, inval),
	AF(prefetch, addr), FEND
};
static const struct mfield amd_complete_ppr[] = {
	AF(complete_ppr, devid), AF(complete_ppr, pasid), AF(complete_ppr, gn),
	AF(complete_ppr, tag), AF(complete_ppr, status), FEND
};
static const struct mfield amd_none[] = { FEND };
const struct mfield vendor_raw_smmu[] = {
	{ "dw0", 0, 8, false }, { "dw1", 8, 8, false }, FEND
};
const struct mfield vendor_raw_amd[] = {
	{ "q0", 0, 8, false }, { "q1", 8, 8, false }, FEND
};

const struct vendor_amd_op vendor_amd_ops[] = {
	{ "COMPLETION_WAIT", AMD_CMD_COMPLETION_WAIT, amd_comp_wait },
	{ "INV_DEVTAB_ENTRY", AMD_CMD_INV_DEVTAB_ENTRY, amd_inv_dte },
	{ "INV_IOMMU_PAGES", AMD_CMD_INV_IOMMU_PAGES, amd_inv_pages },
	{ "INV_IOTLB_PAGES", AMD_CMD_INV_IOTLB_PAGES, amd_inv_iotlb },
	{ "INV_INTERRUPT_TABLE", AMD_CMD_INV_INTERRUPT_TABLE, amd_inv_irt },
	{ "PREFETCH_IOMMU_PAGES", AMD_CMD_PREFETCH_IOMMU_PAGES, amd_prefetch },
	{ "COMPLETE_PPR_REQUEST", AMD_CMD_COMPLETE_PPR_REQUEST,
	  amd_complete_ppr },
	{ "INV_IOMMU_ALL", AMD_CMD_INV_IOMMU_ALL, amd_none },
};

int vendor_smmu_op_find(const char *name)
{
	for (unsigned op = 0; op < 256; op++) {
		if (isim_smmu_op_known(op) && !strcmp(isim_smmu_op_name(op), name))
			return (int)op;
	}
	return -1;
}

int vendor_amd_op_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(vendor_amd_ops); i++) {
		if (!strcmp(vendor_amd_ops[i].name, name))
			return (int)i;
	}
	return -1;
}

bool cli_vendor_op_valid(enum scn_verb v, const char *op)
{
	if (!strcmp(op, "raw"))
		return true;
	return v == V_CMDQV ? vendor_smmu_op_find(op) >= 0 : vendor_amd_op_find(op) >= 0;
}

void cli_vendor_op_suggest(enum scn_verb v, struct cli_suggest *s)
{
	cli_suggest_add(s, "raw");
	if (v == V_CMDQV) {
		for (unsigned op = 0; op < 256; op++) {
			if (isim_smmu_op_known(op))
				cli_suggest_add(s, isim_smmu_op_name(op));
		}
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(vendor_amd_ops); i++)
		cli_suggest_add(s, vendor_amd_ops[i].name);
}

/* The members key=value may set on a line: those of its opcode. */
static const struct mfield *fields_of(enum scn_verb v, const char *op)
{
	int i;

	if (!op)
		return amd_none;
	if (!strcmp(op, "raw"))
		return v == V_CMDQV ? vendor_raw_smmu : vendor_raw_amd;
	if (v == V_CMDQV)
		return vendor_smmu_fields;
	i = vendor_amd_op_find(op);
	return i < 0 ? amd_none : vendor_amd_ops[i].fields;
}

static const struct mfield *mfield_find(const struct mfield *f,
					const char *name)
{
	for (; f->name; f++) {
		if (!strcmp(f->name, name))
			return f;
	}
	return NULL;
}

bool cli_vendor_key_valid(enum scn_verb v, const char *op, const char *key)
{
	if (v == V_AMD && !strcmp(key, "viommu"))
		return true;
	return mfield_find(fields_of(v, op), key) != NULL;
}

void cli_vendor_key_suggest(enum scn_verb v, const char *op,
			    struct cli_suggest *s)
{
	if (v == V_AMD)
		cli_suggest_add(s, "viommu");
	for (const struct mfield *f = fields_of(v, op); f->name; f++)
		cli_suggest_add(s, f->name);
}

/* -------------------------------------------------------- line helpers */

/* The line's positional arguments (FD and SUB included) and key=values. */
static void vline_split(struct runner *r, struct vline *l)
{
	const struct scn_stmt *st = r->st;

	memset(l, 0, sizeof(*l));
	for (unsigned i = 0; i < st->ntok; i++) {
		if (st->tok[i].val) {
			if (l->nkv < ARRAY_SIZE(l->kv))
				l->kv[l->nkv++] = i;
		} else if (l->npos < ARRAY_SIZE(l->pos)) {
			l->pos[l->npos++] = i;
		}
	}
	l->sub = cli_vsub_find(st->verb, st->tok[l->pos[1]].s);
}

/* Positional argument @i after the subcommand. */
const struct scn_tok *vendor_arg(struct runner *r, const struct vline *l,
				unsigned i)
{
	return &r->st->tok[l->pos[2 + i]];
}

bool vendor_arg_val(struct runner *r, const struct vline *l, unsigned i,
		    uint64_t *v)
{
	const struct scn_tok *t = vendor_arg(r, l, i);

	return run_eval(r, t->s, t->col, l->sub->syms, v);
}

unsigned vendor_val_col(const struct scn_tok *t)
{
	return t->col + (unsigned)strlen(t->s) + 1;
}

/* Store the line's key=values into @obj through @fields. */
bool vendor_set_fields(struct runner *r, const struct vline *l,
		       const struct mfield *fields, void *obj, uint64_t *given)
{
	for (unsigned k = 0; k < l->nkv; k++) {
		const struct scn_tok *t = &r->st->tok[l->kv[k]];
		const struct mfield *f = mfield_find(fields, t->s);
		uint8_t *p = (uint8_t *)obj;
		uint64_t v;

		if (!f)
			continue;	/* viommu=, handled by the caller */
		if (!run_eval(r, t->val, vendor_val_col(t), NULL, &v))
			return false;
		if ((f->is_bool && v > 1) ||
		    (f->size < 8 && v >> (8 * f->size))) {
			run_error(r, vendor_val_col(t),
				  "%#" PRIx64 " does not fit in %s", v, f->name);
			return false;
		}
		p += f->off;
		if (f->is_bool) {
			bool b = v;

			memcpy(p, &b, sizeof(b));
		} else {
			switch (f->size) {
			case 1: { uint8_t x = (uint8_t)v; memcpy(p, &x, 1); break; }
			case 2: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
			case 4: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
			default: memcpy(p, &v, 8); break;
			}
		}
		*given |= 1ull << (f - fields);
	}
	return true;
}

static uint64_t field_get(const struct mfield *f, const void *obj)
{
	const uint8_t *p = (const uint8_t *)obj + f->off;

	if (f->is_bool) {
		bool b;

		memcpy(&b, p, sizeof(b));
		return b;
	}
	switch (f->size) {
	case 1: return *p;
	case 2: { uint16_t x; memcpy(&x, p, 2); return x; }
	case 4: { uint32_t x; memcpy(&x, p, 4); return x; }
	default: { uint64_t x; memcpy(&x, p, 8); return x; }
	}
}

/* A field the opcode does not carry is lost in encoding: say which. */
bool vendor_fields_survive(struct runner *r, const char *op,
			   const struct mfield *fields, const void *sent,
			   const void *back, uint64_t given)
{
	for (const struct mfield *f = fields; f->name; f++) {
		if (!(given >> (f - fields) & 1) ||
		    field_get(f, sent) == field_get(f, back))
			continue;
		run_error(r, 0, "%s does not carry %s = %#" PRIx64 " (not a field of this command, or not representable in it)",
			  op, f->name, field_get(f, sent));
		return false;
	}
	return true;
}

int run_vendor(struct runner *r, uint64_t *result)
{
	struct isim_fd *fd = run_fd(r, 0);
	struct vline l;

	if (!fd)
		return 1;
	vline_split(r, &l);
	return r->st->verb == V_CMDQV ? vendor_run_cmdqv(r, fd, &l, result) :
					vendor_run_amd(r, fd, &l, result);
}

/* --------------------------------------------------------- show queue */

int show_queue(struct runner *r, struct isim_fd *fd, unsigned col,
	       uint32_t id)
{
	const struct rec *q = vendor_rec_find(r, fd, REC_HWQ, id);

	if (!q) {
		run_error(r, col, "%u is not a HW queue this scenario allocated on this FD",
			  id);
		return 1;
	}
	switch (q->type) {
	case IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV:
		vendor_show_cmdqv(r, fd, q);
		break;
	case IOMMU_HW_QUEUE_TYPE_AMD_CMD:
	case IOMMU_HW_QUEUE_TYPE_AMD_EVT:
	case IOMMU_HW_QUEUE_TYPE_AMD_PPR:
		vendor_show_amd(r, fd, q);
		break;
	default:
		fprintf(r->out, IND "HW queue %u: type 0x%x of vIOMMU %u, index %u, IOVA 0x%" PRIx64 ", length 0x%" PRIx64 "; this type has no registers to show\n",
			q->id, q->type, q->up, q->index, q->iova, q->length);
		break;
	}
	return 0;
}

/* -------------------------------------------------- constants for parse */

const struct cli_sym cli_prq_syms[] = {
	CSYM("READ", "ISIM_PRQ_READ", ISIM_PRQ_READ),
	CSYM("WRITE", "ISIM_PRQ_WRITE", ISIM_PRQ_WRITE),
	CSYM("EXEC", "ISIM_PRQ_EXEC", ISIM_PRQ_EXEC),
	CSYM("PRIV", "ISIM_PRQ_PRIV", ISIM_PRQ_PRIV),
	CSYM("LAST", "ISIM_PRQ_LAST", ISIM_PRQ_LAST),
	{ NULL, NULL, 0 }
};
