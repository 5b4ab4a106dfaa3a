#include "support/audiotools.h"

#include "audio/format.h"

#include <cmath>
#include <numbers>

namespace sotto::test {

std::vector<qint16> tone(double hz, double seconds, double amplitude)
{
    const std::size_t n = std::size_t(seconds * audio::kSampleRate);
    std::vector<qint16> out(n);
    for (std::size_t i = 0; i < n; ++i)
        out[i] = qint16(amplitude * 32767.0 * std::sin(2 * std::numbers::pi * hz * double(i) / audio::kSampleRate));
    return out;
}

double toneToTotalDb(const std::vector<qint16> &s, double hz, std::size_t from, std::size_t to, std::size_t block)
{
    to = std::min(to, s.size());
    if (from >= to || block == 0)
        return -200;
    block = std::min(block, to - from); // a range shorter than a block is one block
    const double w = 2 * std::numbers::pi * hz / audio::kSampleRate;
    const double coeff = 2 * std::cos(w);
    double tone = 0, total = 0;
    for (std::size_t start = from; start + block <= to; start += block) {
        double q1 = 0, q2 = 0;
        for (std::size_t i = start; i < start + block; ++i) {
            const double x = s[i];
            const double q0 = coeff * q1 - q2 + x;
            q2 = q1;
            q1 = q0;
            total += x * x;
        }
        // This block's tone energy: its power (|X(f)|² · 2 / N², as for a sinusoid) × its length.
        tone += (q1 * q1 + q2 * q2 - coeff * q1 * q2) * 2 / double(block);
    }
    if (total <= 0)
        return -200;
    return 10 * std::log10(std::max(tone, 1e-12) / total);
}

double levelDb(const std::vector<qint16> &s, std::size_t from, std::size_t to)
{
    to = std::min(to, s.size());
    if (from >= to)
        return -200;
    double sum = 0;
    for (std::size_t i = from; i < to; ++i)
        sum += double(s[i]) * s[i];
    const double ms = sum / double(to - from) / (32768.0 * 32768.0);
    return 10 * std::log10(std::max(ms, 1e-20));
}

} // namespace sotto::test
