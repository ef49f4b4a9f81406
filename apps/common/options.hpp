#pragma once
// Configuration for Ping's binaries on top of CAF's config system.
//
// Precedence, lowest first: built-in defaults, the config file
// (--config-file=FILE, CAF's INI format), environment variables, command-line
// flags. Every option `category.name` has the environment variable
// PING_CATEGORY_NAME (upper case, '-' and '.' as '_'), e.g. postgres.dsn is
// PING_POSTGRES_DSN, for Kubernetes. `--help` lists every option with its
// default and variable; secrets are shown redacted everywhere.

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "admin/options.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/config_option_adder.hpp>
#include <caf/deep_to_string.hpp>
#include <functional>

namespace ping::apps {

class options : public caf::actor_system_config {
public:
  // Settings every binary has (see add_common).
  admin::options admin;
  std::string log_level = "info";
  std::string log_format = "logfmt";
  std::string bootstrap_file;

  /// Parses defaults, file, environment and flags, then applies the common
  /// settings (log level; Kafka bootstrap servers read from
  /// `bootstrap_file`). Returns an exit code when the program should stop
  /// right away (--help: 0, bad usage: 2).
  std::optional<int> load(int argc, char** argv);

  /// "name=value" lines of the effective configuration, secrets redacted.
  std::vector<std::string> describe() const;

  /// The environment variable for an option.
  static std::string env_name(std::string_view category, std::string_view name);

protected:
  options(std::string program, std::string summary);

  /// Registers the common options: admin endpoint, log level, and the
  /// bootstrap file that fills `kafka_bootstrap`.
  void add_common(std::string& kafka_bootstrap);

  /// An option's value as --help, describe() and bound() show it. CAF 0.17
  /// writes a zero duration as "0d"; it reads "0s" here.
  template <class T>
  static std::string text_of(const T& value) {
    if constexpr (std::is_same_v<T, caf::timespan>)
      if (value.count() == 0)
        return "0s";
    return caf::deep_to_string(value);
  }

  template <class T>
  void add(std::string_view category, T& ref, std::string_view name, std::string_view description,
           bool secret = false) {
    auto shown = secret ? std::string{"(secret)"} : text_of(ref);
    std::function<void(bool)> set_bool;
    if constexpr (std::is_same_v<T, bool>)
      set_bool = [&ref](bool v) { ref = v; };
    entries_.push_back({std::string{category}, std::string{name}, std::string{description}, shown,
                        secret, [&ref] { return text_of(ref); }, set_bool});
    opt_group{custom_options_, category}.add(ref, name, description);
  }

  /// Bounds of an option registered with add(): load() exits 2 with
  /// "--category.name=VALUE is out of bounds [min, max]" when the effective
  /// value lies outside.
  template <class T, class U>
  void bound(std::string_view category, const T& ref, std::string_view name, U min, U max) {
    auto flag = category == "global" ? "--" + std::string{name}
                                     : "--" + std::string{category} + "." + std::string{name};
    auto lo = static_cast<T>(min);
    auto hi = static_cast<T>(max);
    checks_.push_back([flag, &ref, lo, hi]() -> std::string {
      if (ref < lo || ref > hi)
        return flag + "=" + text_of(ref) + " is out of bounds [" + text_of(lo) + ", " + text_of(hi)
               + "]";
      return {};
    });
  }

private:
  struct entry {
    std::string category;
    std::string name;
    std::string description;
    std::string default_text;
    bool secret;
    std::function<std::string()> current;
    std::function<void(bool)> set_bool; // bool options: CAF 0.17 only takes bare flags
  };

  void print_help() const;

  std::string program_;
  std::string summary_;
  std::vector<entry> entries_;
  std::string* kafka_bootstrap_ = nullptr;
  std::vector<std::function<std::string()>> checks_; // bound(): "" or the problem
};

} // namespace ping::apps
