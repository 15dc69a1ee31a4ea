/*
 * Settings of the AMD vIOMMU model (struct amd_hw_config in amd_hw.h):
 * the defaults, one "key=value" setting by field name, the
 * "key=value,..." option string over it, and the check amd_hw_create
 * makes of a configuration it is handed.  Kept apart from the model so
 * the iommufd driver and the CLI can parse options without one.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim/lib/fault.h"
#include "vendors/amd/amd_hw.h"
#include "vendors/amd/amd_hw_private.h"

/* ------------------------------------------------------------- settings */

void amd_hw_config_init(struct amd_hw_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->efr = AMD_EFR_PREF_SUP | AMD_EFR_PPR_SUP | AMD_EFR_GT_SUP |
		   AMD_EFR_IA_SUP | AMD_EFR_VIOMMU;
	cfg->iotlb_sup = true;
	cfg->illegal_cmd_head = AMD_HEAD_AT_FAULT;
	cfg->overflow_stops_run = true;
	cfg->enable_edge_clears_overflow = true;
	cfg->comwait_f_bit = AMD_COMWAIT_F_IGNORE;
	cfg->guest_opcode_0xa = AMD_GUEST_0XA_ILLEGAL;
	cfg->alloc_length_units = AMD_LENGTH_CODE;
	cfg->alloc_strict_len = true;
	cfg->ppr_status_encoding = AMD_PPR_STATUS_LINUX;
	cfg->invalid_ppr_event_when_disabled = true;
	cfg->iotlb_pasid_layout = AMD_IOTLB_PASID_LINUX;
	cfg->ppr_auto_rsp_aon_bit = 42;
	cfg->alloc_strict_base = true;
	cfg->base_write_resets_ptrs = true;
	cfg->ppr_pending_max = 512;
}

enum opt_kind { OPT_BOOL, OPT_U16, OPT_U64, OPT_UINT, OPT_ENUM };

struct opt {
	const char *key;
	enum opt_kind kind;
	size_t off;
	const char *const *names;	/* OPT_ENUM: value i is names[i] */
};

static const char *const head_names[] = { "at_fault", "past_fault", NULL };
static const char *const f_names[] = { "ignore", "illegal", NULL };
static const char *const op0xa_names[] = { "illegal", "nop", NULL };
static const char *const units_names[] = { "code", "bytes", NULL };
static const char *const ppr_enc_names[] = { "linux", "pcie", NULL };
static const char *const layout_names[] = { "linux", "vbox", NULL };

#define OPT(k, kind, names) \
	{ #k, kind, offsetof(struct amd_hw_config, k), names }
static const struct opt opts[] = {
	OPT(gid, OPT_U16, NULL),
	OPT(trans_devid, OPT_U16, NULL),
	OPT(efr, OPT_U64, NULL),
	OPT(iotlb_sup, OPT_BOOL, NULL),
	OPT(inv_iotlb_type_sup, OPT_BOOL, NULL),
	OPT(illegal_cmd_head, OPT_ENUM, head_names),
	OPT(overflow_stops_run, OPT_BOOL, NULL),
	OPT(enable_edge_clears_overflow, OPT_BOOL, NULL),
	OPT(comwait_f_bit, OPT_ENUM, f_names),
	OPT(guest_opcode_0xa, OPT_ENUM, op0xa_names),
	OPT(alloc_length_units, OPT_ENUM, units_names),
	OPT(alloc_strict_len, OPT_BOOL, NULL),
	OPT(late_entry_visibility, OPT_BOOL, NULL),
	OPT(ppr_status_encoding, OPT_ENUM, ppr_enc_names),
	OPT(invalid_ppr_event_when_disabled, OPT_BOOL, NULL),
	OPT(iotlb_pasid_layout, OPT_ENUM, layout_names),
	OPT(ppr_auto_rsp_aon_bit, OPT_UINT, NULL),
	OPT(alloc_strict_base, OPT_BOOL, NULL),
	OPT(base_write_resets_ptrs, OPT_BOOL, NULL),
	OPT(ppr_pending_max, OPT_UINT, NULL),
};

_Static_assert(sizeof(enum amd_illegal_cmd_head) == sizeof(int) &&
	       sizeof(enum amd_comwait_f) == sizeof(int) &&
	       sizeof(enum amd_guest_op_0xa) == sizeof(int) &&
	       sizeof(enum amd_length_units) == sizeof(int) &&
	       sizeof(enum amd_ppr_status_encoding) == sizeof(int) &&
	       sizeof(enum amd_iotlb_pasid_layout) == sizeof(int),
	       "enum settings are stored as int");

static int parse_u64(const char *val, uint64_t max, uint64_t *out)
{
	char *end;

	if (!*val || *val == '-')
		return -EINVAL;
	errno = 0;
	*out = strtoull(val, &end, 0);
	if (errno || *end || *out > max)
		return -EINVAL;
	return 0;
}

static int parse_bool(const char *val, bool *out)
{
	static const char *const yes[] = { "1", "true", "on", "yes" };
	static const char *const no[] = { "0", "false", "off", "no" };

	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(val, yes[i]) || !strcasecmp(val, no[i])) {
			*out = !strcasecmp(val, yes[i]);
			return 0;
		}
	}
	return -EINVAL;
}

int amd_hw_config_set(struct amd_hw_config *cfg, const char *key,
		      const char *val)
{
	const struct opt *o = NULL;
	char *field;
	uint64_t v;
	bool b;
	int e;

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (!strcmp(opts[i].key, key))
			o = &opts[i];
	if (!o || !val)
		return -EINVAL;
	field = (char *)cfg + o->off;
	switch (o->kind) {
	case OPT_BOOL:
		if (parse_bool(val, &b))
			return -EINVAL;
		memcpy(field, &b, sizeof(b));
		return 0;
	case OPT_U16:
		if (parse_u64(val, UINT16_MAX, &v))
			return -EINVAL;
		memcpy(field, &(uint16_t){ (uint16_t)v }, sizeof(uint16_t));
		return 0;
	case OPT_U64:
		if (parse_u64(val, UINT64_MAX, &v))
			return -EINVAL;
		memcpy(field, &v, sizeof(v));
		return 0;
	case OPT_UINT:
		if (parse_u64(val, 1u << 20, &v))
			return -EINVAL;
		if (!strcmp(key, "ppr_auto_rsp_aon_bit") && v != 42 && v != 48)
			return -EINVAL;
		memcpy(field, &(unsigned int){ (unsigned int)v },
		       sizeof(unsigned int));
		return 0;
	case OPT_ENUM:
		for (e = 0; o->names[e]; e++)
			if (!strcasecmp(o->names[e], val))
				break;
		if (!o->names[e])
			return -EINVAL;
		memcpy(field, &e, sizeof(e));
		return 0;
	}
	return -EINVAL;
}

int amd_hw_config_parse(struct amd_hw_config *cfg, const char *opts_str)
{
	struct amd_hw_config tmp = *cfg;
	char *buf, *tok, *save = NULL;
	int rc = 0;

	if (!opts_str || !*opts_str)
		return 0;
	buf = isim_should_fail() ? NULL : strdup(opts_str);
	if (!buf)
		return -ENOMEM;
	for (tok = strtok_r(buf, ",", &save); tok && !rc;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq) {
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		rc = amd_hw_config_set(&tmp, tok, eq + 1);
	}
	free(buf);
	/* All or nothing: a bad option leaves @cfg as it was. */
	if (!rc)
		*cfg = tmp;
	return rc;
}

bool amd_hw_config_valid(const struct amd_hw_config *c)
{
	return c->illegal_cmd_head <= AMD_HEAD_PAST_FAULT &&
	       c->comwait_f_bit <= AMD_COMWAIT_F_ILLEGAL &&
	       c->guest_opcode_0xa <= AMD_GUEST_0XA_NOP &&
	       c->alloc_length_units <= AMD_LENGTH_BYTES &&
	       c->ppr_status_encoding <= AMD_PPR_STATUS_PCIE &&
	       c->iotlb_pasid_layout <= AMD_IOTLB_PASID_VBOX &&
	       (c->ppr_auto_rsp_aon_bit == 42 || c->ppr_auto_rsp_aon_bit == 48);
}
