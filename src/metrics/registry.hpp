// A small, pure metric registry rendered in the Prometheus text exposition
// format (version 0.0.4): counters, gauges and histograms with fixed label
// names and integer values. Histograms take microseconds and are exposed in
// seconds, so bucket counts and sums are exact.
//
// Cardinality guard: each metric holds at most `max_series` label sets. Past
// that, a new label set has its open-ended labels (ports, comm) replaced by
// "other" (fixed-vocabulary labels such as role are kept), and
// tcptrail_metrics_label_overflow_total{metric=...} counts each folded update.
// No I/O, no clock, single-threaded: the tracer's main loop owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace tcptrail::metrics {

struct LabelSpec {
    std::string name;
    bool open_ended;  // values not from a fixed set: folded into "other" past the limit
};

using LabelValues = std::vector<std::string>;  // in the metric's label order

class Registry {
public:
    enum class Type : uint8_t { Counter, Gauge, Histogram };
    static constexpr const char* kOther = "other";

    class Metric {
    public:
        const std::string& name() const { return name_; }

    private:
        friend class Registry;
        struct Series {
            LabelValues labels;
            uint64_t value = 0;             // counter, gauge; histogram: count
            std::vector<uint64_t> buckets;  // histogram: per bound, not cumulative
            uint64_t sum_us = 0;
        };
        std::string name_, help_;
        Type type_ = Type::Counter;
        std::vector<LabelSpec> labels_;
        std::vector<uint64_t> bounds_us_;                 // histogram upper bounds, ascending; +Inf implied
        std::unordered_map<std::string, Series> series_;  // by joined label values
    };

    explicit Registry(size_t max_series_per_metric);

    // Registration order is rendering order. References stay valid.
    Metric& counter(std::string name, std::string help, std::vector<LabelSpec> labels);
    Metric& gauge(std::string name, std::string help, std::vector<LabelSpec> labels);
    Metric& histogram(std::string name, std::string help, std::vector<LabelSpec> labels,
                      std::vector<uint64_t> bounds_us);

    void add(Metric& m, const LabelValues& labels, uint64_t n = 1);   // counter
    void set(Metric& m, const LabelValues& labels, uint64_t v);       // gauge
    void observe(Metric& m, const LabelValues& labels, uint64_t us);  // histogram

    // Appends every metric (HELP, TYPE, series sorted by label values), then the
    // overflow counter.
    void render(std::string& out) const;

    uint64_t overflow(const std::string& metric) const;

private:
    Metric& add_metric(std::string name, std::string help, Type type, std::vector<LabelSpec> labels,
                       std::vector<uint64_t> bounds_us);
    Metric::Series& series(Metric& m, const LabelValues& labels);

    size_t max_series_;
    std::deque<Metric> metrics_;
    Metric* overflow_ = nullptr;
};

// Prometheus label value escaping: backslash, double quote and newline.
std::string escape_label_value(const std::string& v);
// A float sample value as Prometheus clients write it ("0.0001", "1.5", "3").
std::string format_seconds(uint64_t us);

}  // namespace tcptrail::metrics
