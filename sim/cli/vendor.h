/*
 * What the vendor verbs share, private to vendor.c, vendor_cmdqv.c and
 * vendor_amd.c: the record of the ioctls the scenario's VMM made (a
 * guest finds its rings through them), a line's split into positional
 * arguments and key=values, the settable members of the vendors' command
 * structs, and the per-vendor entry points vendor.c dispatches to.
 */
#ifndef ISIM_CLI_VENDOR_H
#define ISIM_CLI_VENDOR_H

#include "sim/cli/runner.h"
#include "vendors/amd/amd_viommu.h"
#include "vendors/nvidia/cmdqv_hw.h"
#include "vendors/nvidia/smmuv3_cmd.h"

/* tegra241_cmdqv.c has no header: its callers repeat these. */
int tegra241_cmdqv_model(struct isim_iommu *iommu, struct isim_cmdqv **out);
int tegra241_cmdqv_viommu_vintf(struct isim_fd *fd, uint32_t viommu_id,
				struct isim_cmdqv_vintf **out);

/* What the VMM did (vendor.c keeps it: vmm_note_ioctl() in runner.h). */
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

/* The scenario's record, made on first use. */
struct cli_vmm *vendor_vmm(struct runner *r);
/* The newest record of @kind with @id on @fd. */
struct rec *vendor_rec_find(struct runner *r, struct isim_fd *fd,
			    enum rec_kind kind, uint32_t id);
/* Where guest-physical [@gpa, +@len) is in the VMM's memory. */
void *vendor_guest_va(struct runner *r, struct isim_fd *fd, uint32_t viommu,
		      uint64_t gpa, uint64_t len);
/* Is @va the start of a live mmap of @fd? */
bool vendor_mmapped(struct runner *r, struct isim_fd *fd, const void *va);

/* A settable member of a command struct: where it is and how wide. */
struct mfield {
	const char *name;
	unsigned off, size;
	bool is_bool;
};

struct vendor_amd_op {
	const char *name;
	enum amd_cmd_op op;
	const struct mfield *fields;
};

/* Tables the parser checks lines with and the verbs encode by (vendor.c). */
extern const char *const vendor_cmdqv_regs[];
extern const unsigned vendor_cmdqv_reg_off[];
extern const struct cli_sym vendor_amd_status_syms[];
extern const struct mfield vendor_smmu_fields[], vendor_raw_smmu[],
	vendor_raw_amd[];
extern const struct vendor_amd_op vendor_amd_ops[];
int vendor_smmu_op_find(const char *name);
int vendor_amd_op_find(const char *name);

/* The line's positional arguments (FD and SUB included) and key=values. */
struct vline {
	unsigned pos[8], npos;
	unsigned kv[32], nkv;
	const struct cli_vsub *sub;
};

/* Positional argument @i after the subcommand. */
const struct scn_tok *vendor_arg(struct runner *r, const struct vline *l,
				unsigned i);
bool vendor_arg_val(struct runner *r, const struct vline *l, unsigned i,
		    uint64_t *v);
unsigned vendor_val_col(const struct scn_tok *t);
/* Store the line's key=values into @obj through @fields. */
bool vendor_set_fields(struct runner *r, const struct vline *l,
		       const struct mfield *fields, void *obj, uint64_t *given);
/* A field the opcode does not carry is lost in encoding: say which. */
bool vendor_fields_survive(struct runner *r, const char *op,
			   const struct mfield *fields, const void *sent,
			   const void *back, uint64_t given);

/* vendor_cmdqv.c */
int vendor_run_cmdqv(struct runner *r, struct isim_fd *fd,
		     const struct vline *l, uint64_t *result);
void vendor_show_cmdqv(struct runner *r, struct isim_fd *fd,
		       const struct rec *q);

/* vendor_amd.c */
int vendor_run_amd(struct runner *r, struct isim_fd *fd,
		   const struct vline *l, uint64_t *result);
void vendor_show_amd(struct runner *r, struct isim_fd *fd,
		     const struct rec *q);

#endif
