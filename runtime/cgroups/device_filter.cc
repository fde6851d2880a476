#include "runtime/cgroups/device_filter.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "base/error.h"
#include "base/fd.h"

namespace cryo::runtime {
namespace {

// Registers: r2 = device type, r3 = requested access, r4 = major, r5 = minor, r6 = scratch.
struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  struct bpf_insn i = {};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}
struct bpf_insn load_u32(uint8_t dst, int16_t off) { return insn(BPF_LDX | BPF_W | BPF_MEM, dst, BPF_REG_1, off, 0); }
struct bpf_insn mov_reg(uint8_t dst, uint8_t src) { return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
struct bpf_insn alu_imm(uint8_t op, uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm); }
struct bpf_insn jne_imm(uint8_t dst, int32_t imm, int16_t off) { return insn(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm); }
struct bpf_insn mov_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
struct bpf_insn exit_insn() { return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

int access_bits(const std::string& access) {
  int bits = 0;
  for (char c : access) bits |= c == 'r' ? BPF_DEVCG_ACC_READ : c == 'w' ? BPF_DEVCG_ACC_WRITE : c == 'm' ? BPF_DEVCG_ACC_MKNOD : 0;
  return bits;
}

// One rule: a chain of "not this? skip to the next rule" checks, then the verdict.
std::vector<struct bpf_insn> rule_block(const oci::DeviceRule& r) {
  std::vector<struct bpf_insn> checks;
  if (r.type == "c" || r.type == "b")
    checks.push_back(jne_imm(BPF_REG_2, r.type == "c" ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK, 0));
  int bits = access_bits(r.access);
  bool all_access = bits == (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD);
  if (!all_access) {
    // Every requested access bit must be one the rule names.
    checks.push_back(mov_reg(BPF_REG_6, BPF_REG_3));
    checks.push_back(alu_imm(BPF_AND, BPF_REG_6, ~bits));
    checks.push_back(jne_imm(BPF_REG_6, 0, 0));
  }
  if (r.major && *r.major >= 0) checks.push_back(jne_imm(BPF_REG_4, static_cast<int32_t>(*r.major), 0));
  if (r.minor && *r.minor >= 0) checks.push_back(jne_imm(BPF_REG_5, static_cast<int32_t>(*r.minor), 0));
  checks.push_back(mov_imm(BPF_REG_0, r.allow ? 1 : 0));
  checks.push_back(exit_insn());
  // Each conditional jump skips to the end of this block.
  for (size_t i = 0; i < checks.size(); ++i)
    if (checks[i].code == (BPF_JMP | BPF_JNE | BPF_K)) checks[i].off = static_cast<int16_t>(checks.size() - i - 1);
  return checks;
}

long bpf(int cmd, union bpf_attr* attr) { return ::syscall(SYS_bpf, cmd, attr, sizeof *attr); }

}  // namespace

std::vector<struct bpf_insn> device_filter_program(const std::vector<oci::DeviceRule>& rules) {
  std::vector<struct bpf_insn> prog = {
      load_u32(BPF_REG_2, offsetof(struct bpf_cgroup_dev_ctx, access_type)),
      mov_reg(BPF_REG_3, BPF_REG_2),
      alu_imm(BPF_AND, BPF_REG_2, 0xffff),
      alu_imm(BPF_RSH, BPF_REG_3, 16),
      load_u32(BPF_REG_4, offsetof(struct bpf_cgroup_dev_ctx, major)),
      load_u32(BPF_REG_5, offsetof(struct bpf_cgroup_dev_ctx, minor)),
  };
  // The last matching rule decides, so the rules are checked from the last one back. A rule that
  // matches everything ends the program: what comes after it could never run (and the verifier
  // refuses unreachable code).
  for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
    auto block = rule_block(*it);
    prog.insert(prog.end(), block.begin(), block.end());
    if (block.size() == 2) return prog;
  }
  prog.push_back(mov_imm(BPF_REG_0, 0));
  prog.push_back(exit_insn());
  return prog;
}

void attach_device_filter(const std::string& cgroup_dir, const std::vector<oci::DeviceRule>& rules) {
  auto prog = device_filter_program(rules);
  char log[4096] = {};
  static const char license[] = "GPL";
  union bpf_attr load = {};
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = reinterpret_cast<uint64_t>(prog.data());
  load.insn_cnt = static_cast<uint32_t>(prog.size());
  load.license = reinterpret_cast<uint64_t>(license);
  load.log_buf = reinterpret_cast<uint64_t>(log);
  load.log_size = sizeof log;
  load.log_level = 1;
  UniqueFd prog_fd(static_cast<int>(bpf(BPF_PROG_LOAD, &load)));
  if (!prog_fd) throw SysError(errno, std::string("load the device filter (linux.resources.devices): ") + log);
  UniqueFd cg(::open(cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cg) throw_errno("open cgroup `" + cgroup_dir + "`");
  union bpf_attr attach = {};
  attach.target_fd = static_cast<uint32_t>(cg.get());
  attach.attach_bpf_fd = static_cast<uint32_t>(prog_fd.get());
  attach.attach_type = BPF_CGROUP_DEVICE;
  // Without BPF_F_ALLOW_MULTI a second attach replaces the first: `update` swaps the filter.
  if (bpf(BPF_PROG_ATTACH, &attach) != 0) throw_errno("attach the device filter to `" + cgroup_dir + "`");
}

}  // namespace cryo::runtime
