// The sentry's wire format: newline-delimited JSON over a unix stream socket (D/sentry.sock).
//
// Each connection carries one request line; the reply is one line, except for `exec`, whose
// connection then streams the command's output:
//   {"op":"ping"}                                   -> {"ok":true,"pid":P,"init_pid":I}
//   {"op":"exec","argv":[..],"env":{..},"cwd":"","user":"","stdin":"<b64>","close_stdin":B,
//    "timeout_s":S}                                 -> {"started":"cmd-N","pid":P}
//                                                      {"stream":"stdout"|"stderr","data":"<b64>"} ...
//                                                      {"exit_code":N,"timed_out":B}
//   {"op":"stdin","cmd":"cmd-N","data":"<b64>","close":B}  -> {"ok":true}
//   {"op":"signal","cmd":"cmd-N","signal":9}       -> {"ok":true}
//   {"op":"list"}                                   -> {"commands":["cmd-N",..]}
//   {"op":"kill"}                                   -> {"ok":true}, then the sandbox is gone
// Any request can instead get {"error":"<text>","kind":"bad_request|not_found|conflict|internal"}.
#pragma once

#include <string>
#include <string_view>

namespace cryo::sentry {

std::string base64_encode(std::string_view data);
// Throws cryo::Error on characters outside the standard alphabet.
std::string base64_decode(std::string_view text);

// Splits a byte stream into lines; keeps a partial line until its newline arrives.
class LineBuffer {
 public:
  void append(std::string_view data) { buf_.append(data); }
  // Takes the next complete line (without '\n'); false when none is complete yet.
  bool next_line(std::string& line);
  size_t pending() const { return buf_.size(); }

 private:
  std::string buf_;
};

}  // namespace cryo::sentry
