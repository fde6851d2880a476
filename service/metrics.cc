#include "service/metrics.h"

#include <sstream>

namespace cryo::service {

void Metrics::record(const std::string& op, double seconds, bool failed) {
  std::lock_guard lock(mu_);
  Op& o = ops_[op];
  ++o.count;
  o.seconds += seconds;
  if (failed) ++o.failures;
}

std::string Metrics::render(int64_t sandboxes_running, int64_t snapshots) const {
  std::ostringstream out;
  out << "# HELP cryod_sandboxes_running Sandboxes in state running.\n"
      << "# TYPE cryod_sandboxes_running gauge\n"
      << "cryod_sandboxes_running " << sandboxes_running << "\n"
      << "# HELP cryod_snapshots Snapshots in the catalogue.\n"
      << "# TYPE cryod_snapshots gauge\n"
      << "cryod_snapshots " << snapshots << "\n";
  std::lock_guard lock(mu_);
  out << "# HELP cryod_operations_total Operations handled, by kind.\n# TYPE cryod_operations_total counter\n";
  for (auto& [op, o] : ops_) out << "cryod_operations_total{op=\"" << op << "\"} " << o.count << "\n";
  out << "# HELP cryod_operation_failures_total Operations that failed, by kind.\n"
         "# TYPE cryod_operation_failures_total counter\n";
  for (auto& [op, o] : ops_) out << "cryod_operation_failures_total{op=\"" << op << "\"} " << o.failures << "\n";
  out << "# HELP cryod_operation_seconds_sum Total time spent in operations, by kind.\n"
         "# TYPE cryod_operation_seconds_sum counter\n";
  for (auto& [op, o] : ops_) out << "cryod_operation_seconds_sum{op=\"" << op << "\"} " << o.seconds << "\n";
  return out.str();
}

}  // namespace cryo::service
