#include "checkpoint/seccomp_eval.h"

#include <cstring>

namespace cryo::checkpoint {

uint32_t run_seccomp_filter(const std::vector<sock_filter>& program, const seccomp_data& call) {
  constexpr uint32_t kKill = SECCOMP_RET_KILL_PROCESS;
  uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {};
  for (size_t pc = 0; pc < program.size(); ++pc) {
    const sock_filter& in = program[pc];
    uint32_t src = BPF_SRC(in.code) == BPF_X ? x : in.k;
    switch (BPF_CLASS(in.code)) {
      case BPF_LD:
      case BPF_LDX: {
        uint32_t v;
        switch (BPF_MODE(in.code)) {
          case BPF_ABS:
            if (BPF_SIZE(in.code) != BPF_W || in.k % 4 != 0 || in.k + 4 > sizeof call) return kKill;
            std::memcpy(&v, reinterpret_cast<const char*>(&call) + in.k, 4);
            break;
          case BPF_IMM: v = in.k; break;
          case BPF_MEM:
            if (in.k >= BPF_MEMWORDS) return kKill;
            v = mem[in.k];
            break;
          case BPF_LEN: v = sizeof call; break;
          default: return kKill;
        }
        (BPF_CLASS(in.code) == BPF_LD ? a : x) = v;
        break;
      }
      case BPF_ST:
      case BPF_STX:
        if (in.k >= BPF_MEMWORDS) return kKill;
        mem[in.k] = BPF_CLASS(in.code) == BPF_ST ? a : x;
        break;
      case BPF_ALU:
        switch (BPF_OP(in.code)) {
          case BPF_ADD: a += src; break;
          case BPF_SUB: a -= src; break;
          case BPF_MUL: a *= src; break;
          case BPF_DIV: if (src == 0) return kKill; a /= src; break;
          case BPF_MOD: if (src == 0) return kKill; a %= src; break;
          case BPF_AND: a &= src; break;
          case BPF_OR: a |= src; break;
          case BPF_XOR: a ^= src; break;
          case BPF_LSH: a = src < 32 ? a << src : 0; break;
          case BPF_RSH: a = src < 32 ? a >> src : 0; break;
          case BPF_NEG: a = -a; break;
          default: return kKill;
        }
        break;
      case BPF_JMP: {
        size_t skip;
        if (BPF_OP(in.code) == BPF_JA) {
          skip = in.k;
        } else {
          bool taken;
          switch (BPF_OP(in.code)) {
            case BPF_JEQ: taken = a == src; break;
            case BPF_JGT: taken = a > src; break;
            case BPF_JGE: taken = a >= src; break;
            case BPF_JSET: taken = (a & src) != 0; break;
            default: return kKill;
          }
          skip = taken ? in.jt : in.jf;
        }
        if (pc + 1 + skip >= program.size()) return kKill;
        pc += skip;
        break;
      }
      case BPF_RET:
        return BPF_RVAL(in.code) == BPF_A ? a : in.k;
      case BPF_MISC:
        if (BPF_MISCOP(in.code) == BPF_TAX) x = a;
        else a = x;
        break;
      default:
        return kKill;
    }
  }
  return kKill;
}

bool seccomp_allows(const std::vector<std::vector<sock_filter>>& programs, const seccomp_data& call) {
  for (const auto& program : programs) {
    uint32_t action = run_seccomp_filter(program, call) & SECCOMP_RET_ACTION_FULL;
    if (action != SECCOMP_RET_ALLOW && action != SECCOMP_RET_LOG) return false;
  }
  return true;
}

}  // namespace cryo::checkpoint
