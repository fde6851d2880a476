// The message channel between cryo and a container process it is setting up (SOCK_SEQPACKET):
// short typed messages, optionally carrying one fd. EOF means the other side died.
#pragma once

#include <optional>
#include <string>

#include "base/fd.h"

namespace cryo::runtime {

struct SyncMessage {
  std::string type;     // "go", "hooks", "hooks-done", "ready", "error"
  std::string payload;  // e.g. the state JSON, an error text
  UniqueFd fd;
};

class SyncChannel {
 public:
  static std::pair<SyncChannel, SyncChannel> make_pair();
  explicit SyncChannel(UniqueFd fd) : fd_(std::move(fd)) {}
  void send(const std::string& type, const std::string& payload = "", int fd = -1);
  // Throws if the peer is gone; `peer` names it in the error.
  SyncMessage receive(const std::string& peer);
  // nullopt when the peer closed its end (for an exec'd process: success).
  std::optional<SyncMessage> try_receive(const std::string& peer);
  // Receives and requires `type`; an "error" message becomes an exception with its text.
  SyncMessage expect(const std::string& type, const std::string& peer);
  int fd() const { return fd_.get(); }
  void close() { fd_.reset(); }

 private:
  UniqueFd fd_;
};

}  // namespace cryo::runtime
