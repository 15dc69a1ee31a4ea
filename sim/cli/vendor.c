/*
 * The vendor verbs of the scenario language: `cmdqv` plays a guest kernel
 * driving NVIDIA Tegra241 VCMDQs through its mmapped VINTF page0, `amd`
 * one driving an AMD vIOMMU's command buffer, event log and PPR log
 * through its mmapped VF page, and `show queue` prints a HW queue's
 * registers.  The guest side uses only the vendors' guest helpers
 * (smmuv3_cmd.h, amd_cmd.h) on memory the scenario made or mmapped; the
 * model handles come from the drivers' VMM-side calls, for what a guest
 * cannot see (a VCMDQ's BASE, the modelled IOTLB, the VFCTRL ring slots).
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

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>

#include "sim/cli/runner.h"
#include "vendors/amd/amd_viommu.h"
#include "vendors/nvidia/cmdqv_hw.h"
#include "vendors/nvidia/smmuv3_cmd.h"

/* tegra241_cmdqv.c has no header: its callers repeat these. */
int tegra241_cmdqv_model(struct isim_iommu *iommu, struct isim_cmdqv **out);
int tegra241_cmdqv_viommu_vintf(struct isim_fd *fd, uint32_t viommu_id,
				struct isim_cmdqv_vintf **out);

/* ------------------------------------------------------ what the VMM did */

enum rec_kind { REC_MAP, REC_HWPT, REC_VIOMMU, REC_HWQ };

struct rec {
	enum rec_kind kind;
	struct isim_fd *fd;
	uint32_t id;		/* the object's ID; 0 for a mapping */
	/* map: its IOAS; HWPT: pt_id; vIOMMU: hwpt_id; HW queue: vIOMMU */
	uint32_t up;
	uint32_t type, index;
	uint64_t iova, length, user_va;
	/* The guest's own producer state of a queue, once it has used it. */
	bool guest_ready;
	union {
		struct isim_vcmdq_guest vcmdq;
		struct amd_guest_ring amd;
	} g;
};

struct cli_vmm {
	struct rec *v;
	unsigned n;
};

static struct cli_vmm *vmm(struct runner *r)
{
	if (!r->vmm) {
		r->vmm = cli_xrealloc(NULL, sizeof(*r->vmm));
		memset(r->vmm, 0, sizeof(*r->vmm));
	}
	return r->vmm;
}

static void rec_add(struct runner *r, const struct rec *x)
{
	struct cli_vmm *vm = vmm(r);

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
static struct rec *rec_find(struct runner *r, struct isim_fd *fd,
			    enum rec_kind kind, uint32_t id)
{
	struct cli_vmm *vm = vmm(r);

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
static void *guest_va(struct runner *r, struct isim_fd *fd, uint32_t viommu,
		      uint64_t gpa, uint64_t len)
{
	struct rec *vi = rec_find(r, fd, REC_VIOMMU, viommu);
	struct rec *hp = vi ? rec_find(r, fd, REC_HWPT, vi->up) : NULL;
	struct cli_vmm *vm = vmm(r);

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
static bool mmapped(struct runner *r, struct isim_fd *fd, const void *va)
{
	for (unsigned i = 0; i < r->nregions; i++) {
		if (r->regions[i].mmap_fd == fd &&
		    r->regions[i].va == (uintptr_t)va)
			return true;
	}
	return false;
}

static unsigned ilog2_u64(uint64_t v)
{
	unsigned l = 0;

	while (v >>= 1)
		l++;
	return l;
}

/* ------------------------------------------------ subcommands and fields */

static const char *const cmdqv_regs[] = { "CONS", "PROD", "CONFIG", "STATUS",
					  "GERROR", "GERRORN", NULL };
static const unsigned cmdqv_reg_off[] = {
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
static const struct cli_sym amd_status_syms[] = {
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
	{ "reg", "vw", cmdqv_regs, "VCMDQ register", NULL, "value",
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
	{ "clear", "v", NULL, NULL, amd_status_syms, NULL,
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

/* A settable member of a command struct: where it is and how wide. */
struct mfield {
	const char *name;
	unsigned off, size;
	bool is_bool;
};

#define IS_BOOL(x) _Generic((x), bool: true, default: false)
#define SF(f) { #f, offsetof(struct isim_smmu_cmd, f), \
		sizeof(((struct isim_smmu_cmd *)0)->f), \
		IS_BOOL(((struct isim_smmu_cmd *)0)->f) }

static const struct mfield smmu_fields[] = {
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
static const struct mfield raw_smmu[] = {
	{ "dw0", 0, 8, false }, { "dw1", 8, 8, false }, FEND
};
static const struct mfield raw_amd[] = {
	{ "q0", 0, 8, false }, { "q1", 8, 8, false }, FEND
};

static const struct {
	const char *name;
	enum amd_cmd_op op;
	const struct mfield *fields;
} amd_ops[] = {
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

static int smmu_op_find(const char *name)
{
	for (unsigned op = 0; op < 256; op++) {
		if (isim_smmu_op_known(op) && !strcmp(isim_smmu_op_name(op), name))
			return (int)op;
	}
	return -1;
}

static int amd_op_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(amd_ops); i++) {
		if (!strcmp(amd_ops[i].name, name))
			return (int)i;
	}
	return -1;
}

bool cli_vendor_op_valid(enum scn_verb v, const char *op)
{
	if (!strcmp(op, "raw"))
		return true;
	return v == V_CMDQV ? smmu_op_find(op) >= 0 : amd_op_find(op) >= 0;
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
	for (size_t i = 0; i < ARRAY_SIZE(amd_ops); i++)
		cli_suggest_add(s, amd_ops[i].name);
}

/* The members key=value may set on a line: those of its opcode. */
static const struct mfield *fields_of(enum scn_verb v, const char *op)
{
	int i;

	if (!op)
		return amd_none;
	if (!strcmp(op, "raw"))
		return v == V_CMDQV ? raw_smmu : raw_amd;
	if (v == V_CMDQV)
		return smmu_fields;
	i = amd_op_find(op);
	return i < 0 ? amd_none : amd_ops[i].fields;
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
struct vline {
	unsigned pos[8], npos;
	unsigned kv[32], nkv;
	const struct cli_vsub *sub;
};

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
static const struct scn_tok *arg(struct runner *r, const struct vline *l,
				 unsigned i)
{
	return &r->st->tok[l->pos[2 + i]];
}

static bool arg_val(struct runner *r, const struct vline *l, unsigned i,
		    uint64_t *v)
{
	const struct scn_tok *t = arg(r, l, i);

	return run_eval(r, t->s, t->col, l->sub->syms, v);
}

static unsigned val_col(const struct scn_tok *t)
{
	return t->col + (unsigned)strlen(t->s) + 1;
}

/* Store the line's key=values into @obj through @fields. */
static bool set_fields(struct runner *r, const struct vline *l,
		       const struct mfield *fields, void *obj,
		       uint64_t *given)
{
	for (unsigned k = 0; k < l->nkv; k++) {
		const struct scn_tok *t = &r->st->tok[l->kv[k]];
		const struct mfield *f = mfield_find(fields, t->s);
		uint8_t *p = (uint8_t *)obj;
		uint64_t v;

		if (!f)
			continue;	/* viommu=, handled by the caller */
		if (!run_eval(r, t->val, val_col(t), NULL, &v))
			return false;
		if ((f->is_bool && v > 1) ||
		    (f->size < 8 && v >> (8 * f->size))) {
			run_error(r, val_col(t), "%#" PRIx64 " does not fit in %s",
				  v, f->name);
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
static bool fields_survive(struct runner *r, const char *op,
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

static void kick(void *arg)
{
	/* Stepped: run the models.  Threaded: they run; give them time. */
	if (!isim_hw_run(arg, 4096))
		sched_yield();
}

/* ---------------------------------------------------------------- CMDQV */

static const char *const cerror_names[] = { "none", "ILL", "ABT",
					    "ATC_INV_SYNC", "ILL_ACCESS" };

static const char *cerror_name(unsigned code)
{
	return code < ARRAY_SIZE(cerror_names) ? cerror_names[code] : "?";
}

static int cmdqv_vintf(struct runner *r, struct isim_fd *fd, uint32_t viommu,
		       unsigned col, struct isim_cmdqv_vintf **v)
{
	int rc = tegra241_cmdqv_viommu_vintf(fd, viommu, v);

	if (rc)
		run_error(r, col, "%u is not a TEGRA241_CMDQV vIOMMU of this FD",
			  viommu);
	return rc ? 1 : 0;
}

/* The CMDQV instance behind a VINTF, among the scenario's IOMMUs. */
static struct isim_cmdqv *cmdqv_of(struct runner *r,
				   struct isim_cmdqv_vintf *v)
{
	for (unsigned i = 0; i < r->niommus; i++) {
		struct isim_cmdqv *hw;

		if (!tegra241_cmdqv_model(r->iommus[i].ptr, &hw) &&
		    isim_cmdqv_vintf(hw, isim_cmdqv_vintf_id(v)) == v)
			return hw;
	}
	return NULL;
}

/*
 * The guest's handle on VCMDQ @tok: its slot in the mmapped VINTF page0
 * and its ring in guest RAM, set up when the guest first touches it.
 */
static struct rec *cmdqv_queue(struct runner *r, struct isim_fd *fd,
			       const struct scn_tok *tok)
{
	struct isim_cmdqv_vintf *v;
	struct rec *q;
	uint64_t id;
	void *page0, *ring;

	if (!run_eval(r, tok->s, tok->col, NULL, &id))
		return NULL;
	q = rec_find(r, fd, REC_HWQ, (uint32_t)id);
	if (!q || q->type != IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV) {
		run_error(r, tok->col, "%" PRIu64 " is not a TEGRA241_CMDQV HW queue this scenario allocated on this FD",
			  id);
		return NULL;
	}
	if (cmdqv_vintf(r, fd, q->up, tok->col, &v))
		return NULL;
	page0 = isim_cmdqv_vintf_page0(v);
	if (!mmapped(r, fd, page0)) {
		run_error(r, tok->col, "the guest reaches its VCMDQ through the VINTF page0: mmap it first (mmap FD OFFSET 64K, the offset VIOMMU_ALLOC wrote to its data)");
		return NULL;
	}
	if (q->guest_ready)
		return q;
	ring = guest_va(r, fd, q->up, q->iova, q->length);
	if (!ring) {
		run_error(r, tok->col, "the queue's GPA 0x%" PRIx64 " is in no guest RAM an IOAS_MAP of this FD put there",
			  q->iova);
		return NULL;
	}
	isim_vcmdq_guest_init(&q->g.vcmdq, page0, q->index, ring,
			      ilog2_u64(q->length / ISIM_SMMU_CMD_SIZE));
	q->g.vcmdq.kick = kick;
	q->g.vcmdq.kick_arg = r->m;
	q->g.vcmdq.max_polls = 100000;
	q->guest_ready = true;
	return q;
}

static uint32_t reg_load(struct isim_vcmdq_guest *g, unsigned off)
{
	return __atomic_load_n(isim_vcmdq_reg(g->regs, off), __ATOMIC_ACQUIRE);
}

static int cmdqv_push(struct runner *r, const struct vline *l,
		      struct isim_vcmdq_guest *g, uint64_t *result)
{
	const struct scn_tok *optok = arg(r, l, 1);
	const char *op = optok->s;
	struct isim_smmu_cmd c = { 0 }, back;
	uint64_t dw[2] = { 0, 0 }, given = 0;
	uint32_t slot = g->prod & ((1u << g->log2size) - 1);
	int rc;

	if (!strcmp(op, "raw")) {
		if (!set_fields(r, l, raw_smmu, dw, &given))
			return 1;
	} else {
		c.op = (uint8_t)smmu_op_find(op);
		if (!set_fields(r, l, smmu_fields, &c, &given))
			return 1;
		if (isim_smmu_cmd_encode(&c, dw)) {
			run_error(r, optok->col, "%s cannot be encoded: a field does not fit its bits (or an address has bits below its granule)",
				  op);
			return 1;
		}
		memset(&back, 0, sizeof(back));
		isim_smmu_cmd_decode(dw, &back);
		if (!fields_survive(r, op, smmu_fields, &c, &back, given))
			return 1;
	}
	rc = isim_vcmdq_guest_push(g, dw);
	if (!rc)
		*result = slot;
	return rc;
}

static int cmdqv_iotlb(struct runner *r, struct isim_fd *fd,
		       const struct vline *l, uint64_t *result)
{
	struct isim_cmdqv_vintf *v;
	struct isim_cmdqv *hw;
	uint64_t viommu, asid, va;
	uint16_t vmid;

	if (!arg_val(r, l, 0, &viommu) || !arg_val(r, l, 2, &asid) ||
	    !arg_val(r, l, 3, &va))
		return 1;
	if (cmdqv_vintf(r, fd, (uint32_t)viommu, arg(r, l, 0)->col, &v))
		return 1;
	hw = cmdqv_of(r, v);
	if (!hw) {
		run_error(r, 0, "no IOMMU of this scenario has that VINTF");
		return 1;
	}
	if (asid > 0xffff) {
		run_error(r, arg(r, l, 2)->col, "an ASID has 16 bits");
		return 1;
	}
	/* The IOTLB is tagged with the VINTF's VMID, as the guest's TLBIs
	 * are once the hardware has replaced theirs. */
	vmid = (uint16_t)ISIM_CMDQV_VINTF_VMID(isim_cmdqv_vintf_config_reg(v));
	if (!strcmp(arg(r, l, 1)->s, "fill"))
		isim_cmdqv_iotlb_insert(hw, vmid, (uint16_t)asid, va);
	*result = isim_cmdqv_iotlb_has(hw, vmid, (uint16_t)asid, va);
	return 0;
}

/* One vEVENT of the Tegra241 CMDQV, as read(2) returns it. */
struct cmdqv_vevent {
	struct iommufd_vevent_header hdr;
	struct iommu_vevent_tegra241_cmdqv ev;
};

static int cmdqv_vevents(struct runner *r, struct isim_fd *fd,
			 const struct vline *l, uint64_t *result)
{
	uint64_t efd;
	unsigned n = 0;

	if (!arg_val(r, l, 0, &efd))
		return 1;
	for (;;) {
		struct cmdqv_vevent rec;
		ssize_t got;
		uint64_t map[2];

		memset(&rec, 0, sizeof(rec));
		got = isim_read(fd, (int)efd, &rec, sizeof(rec));

		if (got < 0)
			return (int)got;
		if (!got)
			break;
		n++;
		if (r->opts->quiet)
			continue;
		if ((size_t)got < sizeof(rec)) {
			fprintf(r->out, IND "vEVENT seq %u: LOST_EVENTS, events were dropped\n",
				rec.hdr.sequence);
			continue;
		}
		map[0] = le64toh(rec.ev.lvcmdq_err_map[0]);
		map[1] = le64toh(rec.ev.lvcmdq_err_map[1]);
		if (map[1])
			fprintf(r->out, IND "vEVENT seq %u: LVCMDQ_ERR_MAP 0x%" PRIx64 "%016" PRIx64 ": error in LVCMDQ",
				rec.hdr.sequence, map[1], map[0]);
		else
			fprintf(r->out, IND "vEVENT seq %u: LVCMDQ_ERR_MAP 0x%" PRIx64 ": error in LVCMDQ",
				rec.hdr.sequence, map[0]);
		for (unsigned b = 0; b < 128; b++) {
			if (map[b / 64] >> (b % 64) & 1)
				fprintf(r->out, " %u", b);
		}
		fputc('\n', r->out);
	}
	if (!n && !r->opts->quiet)
		fprintf(r->out, IND "no vEVENT to read\n");
	*result = n;
	return 0;
}

static int run_cmdqv(struct runner *r, struct isim_fd *fd,
		     const struct vline *l, uint64_t *result)
{
	const char *sub = l->sub->name;
	struct rec *q;
	struct isim_vcmdq_guest *g;

	if (!strcmp(sub, "iotlb"))
		return cmdqv_iotlb(r, fd, l, result);
	if (!strcmp(sub, "vevents"))
		return cmdqv_vevents(r, fd, l, result);
	q = cmdqv_queue(r, fd, arg(r, l, 0));
	if (!q)
		return 1;
	g = &q->g.vcmdq;
	if (!strcmp(sub, "enable") || !strcmp(sub, "disable")) {
		int rc = isim_vcmdq_guest_enable(g, sub[0] == 'e');

		if (!rc && !r->opts->quiet)
			fprintf(r->out, IND "CONFIG.EN := %d; STATUS.ENABLED followed\n",
				sub[0] == 'e');
		return rc;
	}
	if (!strcmp(sub, "push"))
		return cmdqv_push(r, l, g, result);
	if (!strcmp(sub, "doorbell")) {
		isim_vcmdq_guest_publish(g);
		*result = g->prod;
		return 0;
	}
	if (!strcmp(sub, "ack")) {
		*result = isim_vcmdq_guest_gerror_active(g);
		isim_vcmdq_guest_ack(g);
		return 0;
	}
	if (!strcmp(sub, "skip")) {
		*result = isim_vcmdq_guest_skip_error(g);
		if (!r->opts->quiet)
			fprintf(r->out, *result ? IND "the guest replaced the failing command with a CMD_SYNC and acknowledged (GERRORN := GERROR)\n" :
				IND "no error was active: nothing to skip\n");
		return 0;
	}
	/* reg */
	for (unsigned i = 0; cmdqv_regs[i]; i++) {
		if (!strcmp(cmdqv_regs[i], arg(r, l, 1)->s))
			*result = reg_load(g, cmdqv_reg_off[i]);
	}
	return 0;
}

/* ------------------------------------------------------------------ AMD */

static const char *const evt_names[] = {
	NULL, "ILLEGAL_DEV_TABLE_ENTRY", "IO_PAGE_FAULT",
	"DEV_TAB_HARDWARE_ERROR", "PAGE_TAB_HARDWARE_ERROR",
	"ILLEGAL_COMMAND_ERROR", "COMMAND_HARDWARE_ERROR", "IOTLB_INV_TIMEOUT",
	"INVALID_DEVICE_REQUEST", "INVALID_PPR_REQUEST",
};

static const char *const ring_names[AMD_RING_NR] = {
	"command buffer", "event log", "PPR log"
};

/* The AMD vIOMMU a line is about: viommu=ID, else the newest one. */
static int amd_viommu(struct runner *r, struct isim_fd *fd,
		      const struct vline *l, uint32_t *id, struct amd_hw **hw)
{
	const struct scn_tok *t = NULL;
	struct cli_vmm *vm = vmm(r);
	uint64_t v = 0;
	bool found = false;

	for (unsigned k = 0; k < l->nkv; k++) {
		if (!strcmp(r->st->tok[l->kv[k]].s, "viommu"))
			t = &r->st->tok[l->kv[k]];
	}
	if (t) {
		if (!run_eval(r, t->val, val_col(t), NULL, &v))
			return 1;
		found = true;
	}
	for (unsigned i = vm->n; !found && i-- > 0;) {
		const struct rec *x = &vm->v[i];

		if (x->fd == fd && x->kind == REC_VIOMMU &&
		    x->type == IOMMU_VIOMMU_TYPE_AMD) {
			v = x->id;
			found = true;
		}
	}
	if (!found) {
		run_error(r, 0, "no AMD vIOMMU was allocated on this FD");
		return 1;
	}
	*id = (uint32_t)v;
	if (amd_viommu_model(fd, *id, hw)) {
		run_error(r, t ? val_col(t) : 0, "%u is not an AMD vIOMMU of this FD",
			  *id);
		return 1;
	}
	return 0;
}

/* The guest's VF page: it must be mmapped. */
static void *amd_vf(struct runner *r, struct isim_fd *fd, struct amd_hw *hw)
{
	void *vf = amd_hw_vf_page(hw);

	if (mmapped(r, fd, vf))
		return vf;
	run_error(r, 0, "the guest reaches its registers through the VF page: mmap it first (mmap FD OFFSET 4K, the out_vfmmio_mmap_offset VIOMMU_ALLOC wrote to its data)");
	return NULL;
}

/* The newest HW queue of @type on vIOMMU @viommu. */
static struct rec *amd_ring_rec(struct runner *r, struct isim_fd *fd,
				uint32_t viommu, enum amd_ring ring)
{
	struct cli_vmm *vm = vmm(r);

	for (unsigned i = vm->n; i-- > 0;) {
		struct rec *x = &vm->v[i];

		if (x->fd == fd && x->kind == REC_HWQ && x->up == viommu &&
		    x->type == IOMMU_HW_QUEUE_TYPE_AMD_CMD + (unsigned)ring)
			return x;
	}
	run_error(r, 0, "vIOMMU %u has no %s (HW_QUEUE_ALLOC type=AMD_%s)",
		  viommu, ring_names[ring],
		  ring == AMD_RING_CMD ? "CMD" : ring == AMD_RING_EVT ? "EVT" : "PPR");
	return NULL;
}

/* A guest handle on @ring; @fresh re-reads its registers (consumers). */
static struct amd_guest_ring *amd_ring(struct runner *r, struct isim_fd *fd,
				       uint32_t viommu, struct amd_hw *hw,
				       enum amd_ring ring, bool fresh)
{
	struct amd_ring_info ri;
	struct rec *q = amd_ring_rec(r, fd, viommu, ring);
	void *vf = amd_vf(r, fd, hw), *base;

	if (!q || !vf)
		return NULL;
	if (q->guest_ready && !fresh)
		return &q->g.amd;
	amd_hw_ring_info(hw, ring, &ri);
	if (!ri.len) {
		run_error(r, 0, "the %s of vIOMMU %u is not programmed", ring_names[ring],
			  viommu);
		return NULL;
	}
	base = guest_va(r, fd, viommu, q->iova, ri.size);
	if (!base) {
		run_error(r, 0, "the %s at GPA 0x%" PRIx64 " (0x%x bytes) is not in one piece of guest RAM an IOAS_MAP of this FD put there",
			  ring_names[ring], q->iova, ri.size);
		return NULL;
	}
	amd_guest_ring_init(&q->g.amd, vf, ring, base, ri.len);
	q->guest_ready = true;
	return &q->g.amd;
}

static int amd_cmd_line(struct runner *r, const struct vline *l,
			struct amd_hw *hw, struct amd_guest_ring *g,
			uint64_t *result)
{
	const struct scn_tok *optok = arg(r, l, 0);
	const struct amd_hw_config *cfg = amd_hw_config(hw);
	const struct amd_cmd_format fmt = {
		.iotlb_pasid = cfg->iotlb_pasid_layout,
		.iotlb_type = cfg->inv_iotlb_type_sup,
	};
	struct amd_cmd c, back;
	struct amd_entry e = { 0, 0 };
	uint64_t given = 0;
	uint32_t slot = g->next;
	int i, rc;

	if (!strcmp(optok->s, "raw")) {
		uint64_t q[2] = { 0, 0 };

		if (!set_fields(r, l, raw_amd, q, &given))
			return 1;
		e.q0 = q[0];
		e.q1 = q[1];
	} else {
		i = amd_op_find(optok->s);
		memset(&c, 0, sizeof(c));
		c.op = amd_ops[i].op;
		if (!set_fields(r, l, amd_ops[i].fields, &c, &given))
			return 1;
		/* A store address given means a store is wanted. */
		if (c.op == AMD_CMD_COMPLETION_WAIT && (given & 8) && !(given & 1))
			c.comp_wait.s = true;
		if (amd_cmd_encode(&c, &fmt, &e)) {
			run_error(r, optok->col, "%s cannot be encoded: a field does not fit its bits (or an address is not aligned)",
				  optok->s);
			return 1;
		}
		memset(&back, 0, sizeof(back));
		amd_cmd_decode(&e, &fmt, &back);
		if (!fields_survive(r, optok->s, amd_ops[i].fields, &c, &back,
				    given))
			return 1;
	}
	rc = amd_guest_cmd_push(g, &e);
	if (!rc)
		*result = slot;
	return rc;
}

static void print_event(FILE *f, uint32_t at, const struct amd_entry *e)
{
	struct amd_event ev;
	unsigned type;

	amd_event_decode(e, &ev);
	fprintf(f, IND "at 0x%x: %s", at,
		ev.code < ARRAY_SIZE(evt_names) && evt_names[ev.code] ?
			evt_names[ev.code] : "unknown event code");
	switch (ev.code) {
	case AMD_EVT_ILLEGAL_COMMAND_ERROR:
		fprintf(f, ": the command at GPA 0x%" PRIx64 " is not legal\n",
			ev.addr);
		return;
	case AMD_EVT_COMMAND_HW_ERROR:
	case AMD_EVT_DEV_TAB_HW_ERROR:
	case AMD_EVT_PAGE_TAB_HW_ERROR:
		type = ev.flags >> AMD_EVT_F_TYPE_SHIFT & 3;
		fprintf(f, ": %s at GPA 0x%" PRIx64 "%s\n",
			type == AMD_HWERR_MASTER_ABORT ? "master abort" :
			type == AMD_HWERR_TARGET_ABORT ? "target abort" :
			type == AMD_HWERR_DATA_ERROR ? "data error" : "hardware error",
			ev.addr, ev.code == AMD_EVT_COMMAND_HW_ERROR ?
				" (the command could not be read); the command buffer stops" : "");
		return;
	default:
		break;
	}
	fprintf(f, ": DeviceID 0x%x, %s 0x%x, flags 0x%x, address 0x%" PRIx64 "\n",
		ev.devid, ev.flags & AMD_EVT_F_GN ? "PASID" : "DomainID",
		ev.flags & AMD_EVT_F_GN ? ev.pasid : ev.domid, ev.flags, ev.addr);
}

static void print_ppr(FILE *f, uint32_t at, const struct amd_entry *e)
{
	struct amd_ppr p;

	amd_ppr_decode(e, &p);
	fprintf(f, IND "at 0x%x: PAGE_SERVICE_REQUEST: DeviceID 0x%x", at,
		p.devid);
	if (p.flags & AMD_PPR_F_GN)
		fprintf(f, ", PASID 0x%x", p.pasid);
	fprintf(f, ", group 0x%x%s, %s%s%s, address 0x%" PRIx64 "\n", p.prgi,
		p.last ? " (last)" : "", p.flags & AMD_PPR_F_RD ? "R" : "",
		p.flags & AMD_PPR_F_WR ? "W" : "", p.flags & AMD_PPR_F_US ? " user" : " supervisor",
		p.addr);
}

static int amd_log(struct runner *r, struct isim_fd *fd, uint32_t viommu,
		   struct amd_hw *hw, const struct vline *l, uint64_t *result)
{
	enum amd_ring ring = strcmp(arg(r, l, 0)->s, "evt") ? AMD_RING_PPR :
							      AMD_RING_EVT;
	struct amd_guest_ring *g = amd_ring(r, fd, viommu, hw, ring, true);
	unsigned n = 0;

	if (!g)
		return 1;
	for (;;) {
		struct amd_entry e;
		uint32_t at = g->next;
		int rc = amd_guest_log_pop(g, &e, 0);

		if (rc == -EAGAIN)
			break;
		if (rc)
			return rc;
		n++;
		if (r->opts->quiet)
			continue;
		if (ring == AMD_RING_EVT)
			print_event(r->out, at, &e);
		else
			print_ppr(r->out, at, &e);
	}
	if (!n && !r->opts->quiet)
		fprintf(r->out, IND "the %s is empty\n", ring_names[ring]);
	*result = n;
	return 0;
}

static void print_bits(FILE *f, uint64_t v, const struct cli_sym *syms)
{
	bool any = false;

	for (const struct cli_sym *s = syms; s->name; s++) {
		if (v & s->value) {
			fprintf(f, " %s", s->full);
			any = true;
		}
	}
	if (!any)
		fprintf(f, " (none)");
}

static int amd_responses(struct runner *r, const struct vline *l,
			 uint64_t *result)
{
	const struct scn_tok *t = arg(r, l, 0);
	struct named *dev = run_named_find(r->devices, r->ndevices, t->s);
	struct amd_ppr_response last;
	uint64_t n = 0;
	int rc;

	if (!dev) {
		run_error(r, t->col, "no device named '%s'", t->s);
		return 1;
	}
	memset(&last, 0, sizeof(last));
	rc = amd_viommu_ppr_responses(dev->ptr, &last, &n);
	if (rc)
		return rc;
	*result = n;
	if (n && !r->opts->quiet)
		fprintf(r->out, IND "%" PRIu64 " page response%s reached %s; the last: DeviceID 0x%x PASID 0x%x group 0x%x, %s%s\n",
			n, n == 1 ? "" : "s", t->s, last.devid, last.pasid,
			last.prgi,
			last.status == AMD_PPR_RSP_SUCCESS ? "success" :
			last.status == AMD_PPR_RSP_INVALID ? "invalid" :
			last.status == AMD_PPR_RSP_FAILURE ? "failure" : "other",
			last.matched ? ", for a request group it had logged" : ", for no group it had logged");
	return 0;
}

static int run_amd(struct runner *r, struct isim_fd *fd,
		   const struct vline *l, uint64_t *result)
{
	const char *sub = l->sub->name;
	struct amd_guest_ring *g;
	struct amd_hw *hw;
	uint32_t viommu;
	uint64_t v;
	void *vf;

	if (!strcmp(sub, "responses"))
		return amd_responses(r, l, result);
	if (amd_viommu(r, fd, l, &viommu, &hw))
		return 1;
	if (!strcmp(sub, "control")) {
		/* Trapped by the VMM and forwarded: not through the VF page. */
		if (!arg_val(r, l, 0, &v))
			return 1;
		return amd_viommu_control_write(fd, viommu, v);
	}
	if (!strcmp(sub, "log"))
		return amd_log(r, fd, viommu, hw, l, result);
	if (!strcmp(sub, "status") || !strcmp(sub, "clear")) {
		vf = amd_vf(r, fd, hw);
		if (!vf)
			return 1;
		if (sub[0] == 'c') {
			if (!arg_val(r, l, 0, &v))
				return 1;
			amd_guest_status_write(vf, v);
			return 0;
		}
		*result = amd_guest_status_read(vf);
		if (!r->opts->quiet) {
			fprintf(r->out, IND "status 0x%" PRIx64 ":", *result);
			print_bits(r->out, *result, amd_status_syms);
			fputc('\n', r->out);
		}
		return 0;
	}
	g = amd_ring(r, fd, viommu, hw, AMD_RING_CMD, false);
	if (!g)
		return 1;
	if (!strcmp(sub, "cmd"))
		return amd_cmd_line(r, l, hw, g, result);
	if (!strcmp(sub, "reset")) {
		amd_guest_ring_reset(g);
		return 0;
	}
	/* tail */
	amd_guest_cmd_ring_tail(g);
	*result = g->next;
	return 0;
}

int run_vendor(struct runner *r, uint64_t *result)
{
	struct isim_fd *fd = run_fd(r, 0);
	struct vline l;

	if (!fd)
		return 1;
	vline_split(r, &l);
	return r->st->verb == V_CMDQV ? run_cmdqv(r, fd, &l, result) :
					run_amd(r, fd, &l, result);
}

/* --------------------------------------------------------- show queue */

static void show_cmdqv(struct runner *r, struct isim_fd *fd,
		       const struct rec *q)
{
	static const char *const gerr[] = { "CMDQ_ERR", "CONS_DRAM_ABT",
					    "INIT_ERR" };
	FILE *f = r->out;
	struct isim_cmdqv_vintf *v;
	uint32_t cons, prod, config, status, gerror, gerrorn, active;
	unsigned log2, err;
	uint64_t base;
	void *slot;

	if (tegra241_cmdqv_viommu_vintf(fd, q->up, &v)) {
		fprintf(f, IND "(the vIOMMU is gone)\n");
		return;
	}
	slot = isim_cmdqv_lvcmdq_page0(v, q->index);
	cons = __atomic_load_n(isim_vcmdq_reg(slot, ISIM_VCMDQ_CONS), __ATOMIC_ACQUIRE);
	prod = __atomic_load_n(isim_vcmdq_reg(slot, ISIM_VCMDQ_PROD), __ATOMIC_ACQUIRE);
	config = __atomic_load_n(isim_vcmdq_reg(slot, ISIM_VCMDQ_CONFIG), __ATOMIC_ACQUIRE);
	status = __atomic_load_n(isim_vcmdq_reg(slot, ISIM_VCMDQ_STATUS), __ATOMIC_ACQUIRE);
	gerror = __atomic_load_n(isim_vcmdq_reg(slot, ISIM_VCMDQ_GERROR), __ATOMIC_ACQUIRE);
	gerrorn = __atomic_load_n(isim_vcmdq_reg(slot, ISIM_VCMDQ_GERRORN), __ATOMIC_ACQUIRE);
	base = isim_cmdqv_lvcmdq_base(v, q->index);
	log2 = (unsigned)(base & ISIM_VCMDQ_BASE_LOG2SIZE_MASK);
	if (!log2)
		log2 = ilog2_u64(q->length / ISIM_SMMU_CMD_SIZE);
	err = (cons & ISIM_VCMDQ_CONS_ERR_MASK) >> ISIM_VCMDQ_CONS_ERR_SHIFT;
	active = (gerror ^ gerrorn) & ISIM_VCMDQ_GERROR_ALL;

	fprintf(f, IND "HW queue %u: TEGRA241_CMDQV, vIOMMU %u (VINTF %u), LVCMDQ %u = VCMDQ %u; GPA 0x%" PRIx64 ", %" PRIu64 " entries\n",
		q->id, q->up, isim_cmdqv_vintf_id(v), q->index,
		isim_cmdqv_vcmdq_index(v, q->index), q->iova,
		q->length / ISIM_SMMU_CMD_SIZE);
	fprintf(f, IND "  CONS    0x%08x  RD %u, wrap %u; ERR %u (%s%s)\n", cons,
		(cons & ISIM_VCMDQ_PTR_MASK) & ((1u << log2) - 1),
		(cons & ISIM_VCMDQ_PTR_MASK) >> log2 & 1, err, cerror_name(err),
		err && !(active & ISIM_VCMDQ_GERROR_CMDQ_ERR) ?
			", of an error already acknowledged" : "");
	fprintf(f, IND "  PROD    0x%08x  WR %u, wrap %u\n", prod,
		(prod & ISIM_VCMDQ_PTR_MASK) & ((1u << log2) - 1),
		(prod & ISIM_VCMDQ_PTR_MASK) >> log2 & 1);
	fprintf(f, IND "  CONFIG  0x%08x  %s\n", config,
		config & ISIM_VCMDQ_EN ? "EN" : "disabled");
	fprintf(f, IND "  STATUS  0x%08x  %s\n", status,
		status & ISIM_VCMDQ_EN ? "ENABLED" : "not enabled");
	fprintf(f, IND "  GERROR  0x%08x\n", gerror);
	fprintf(f, IND "  GERRORN 0x%08x  active:", gerrorn);
	for (unsigned b = 0; b < ARRAY_SIZE(gerr); b++) {
		if (active >> b & 1)
			fprintf(f, " %s", gerr[b]);
	}
	fprintf(f, "%s\n", active ? "" : " none");
	fprintf(f, IND "  BASE    0x%016" PRIx64 "  ADDR 0x%" PRIx64 " (PA), LOG2SIZE %u\n",
		base, (uint64_t)(base & ISIM_VCMDQ_BASE_ADDR_MASK),
		(unsigned)(base & ISIM_VCMDQ_BASE_LOG2SIZE_MASK));
	if ((active & ISIM_VCMDQ_GERROR_CMDQ_ERR) && q->guest_ready) {
		uint32_t rd = (cons & ISIM_VCMDQ_PTR_MASK) & ((1u << log2) - 1);
		struct isim_smmu_cmd c;
		uint64_t dw[2];

		isim_smmu_cmd_from_le(q->g.vcmdq.ring + ((size_t)rd << ISIM_SMMU_CMD_SHIFT), dw);
		memset(&c, 0, sizeof(c));
		isim_smmu_cmd_decode(dw, &c);
		fprintf(f, IND "  the entry at RD %u: %s (0x%016" PRIx64 " 0x%016" PRIx64 ")\n",
			rd, isim_smmu_op_name(c.op), dw[0], dw[1]);
	}
}

static void show_amd(struct runner *r, struct isim_fd *fd, const struct rec *q)
{
	static const unsigned head_off[AMD_RING_NR] = { AMD_VF_CMD_HEAD,
							AMD_VF_EVT_HEAD,
							AMD_VF_PPR_HEAD };
	static const char *const en_name[AMD_RING_NR] = { "CmdBufEn",
							  "EventLogEn",
							  "PPRLogEn" };
	static const uint64_t run_bit[AMD_RING_NR] = { AMD_STS_CMD_RUN,
						       AMD_STS_EVT_RUN,
						       AMD_STS_PPR_RUN };
	enum amd_ring ring = (enum amd_ring)(q->type - IOMMU_HW_QUEUE_TYPE_AMD_CMD);
	FILE *f = r->out;
	struct amd_ring_info ri;
	struct amd_hw *hw;
	uint64_t head, tail, st;
	void *vf;

	if (amd_viommu_model(fd, q->up, &hw)) {
		fprintf(f, IND "(the vIOMMU is gone)\n");
		return;
	}
	vf = amd_hw_vf_page(hw);
	amd_hw_ring_info(hw, ring, &ri);
	head = atomic_load(amd_vf_reg(vf, head_off[ring]));
	tail = atomic_load(amd_vf_reg(vf, head_off[ring] + 8));
	st = amd_hw_status(hw);
	fprintf(f, IND "HW queue %u: AMD_%s, the %s of vIOMMU %u (guest ID %u)\n",
		q->id, ring == AMD_RING_CMD ? "CMD" : ring == AMD_RING_EVT ? "EVT" : "PPR",
		ring_names[ring], q->up, amd_hw_config(hw)->gid);
	if (ri.len)
		fprintf(f, IND "  base    GPA 0x%" PRIx64 ", length code %u: %u entries, %u bytes\n",
			ri.base, ri.len, ri.size / AMD_ENTRY_SIZE, ri.size);
	else
		fprintf(f, IND "  base    not programmed\n");
	fprintf(f, IND "  head    0x%" PRIx64 " (entry %" PRIu64 ")\n", head,
		(uint64_t)(head & AMD_PTR_MASK) / AMD_ENTRY_SIZE);
	fprintf(f, IND "  tail    0x%" PRIx64 " (entry %" PRIu64 ")\n", tail,
		(uint64_t)(tail & AMD_PTR_MASK) / AMD_ENTRY_SIZE);
	fprintf(f, IND "  %-7s %u, %s %u\n", en_name[ring], ri.en,
		ring == AMD_RING_CMD ? "CmdBufRun" : ring == AMD_RING_EVT ? "EventLogRun" : "PPRLogRun",
		!!(st & run_bit[ring]));
	fprintf(f, IND "  status  0x%" PRIx64 ":", st);
	print_bits(f, st, amd_status_syms);
	fputc('\n', f);
}

int show_queue(struct runner *r, struct isim_fd *fd, unsigned col,
	       uint32_t id)
{
	const struct rec *q = rec_find(r, fd, REC_HWQ, id);

	if (!q) {
		run_error(r, col, "%u is not a HW queue this scenario allocated on this FD",
			  id);
		return 1;
	}
	switch (q->type) {
	case IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV:
		show_cmdqv(r, fd, q);
		break;
	case IOMMU_HW_QUEUE_TYPE_AMD_CMD:
	case IOMMU_HW_QUEUE_TYPE_AMD_EVT:
	case IOMMU_HW_QUEUE_TYPE_AMD_PPR:
		show_amd(r, fd, q);
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
