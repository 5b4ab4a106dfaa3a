#pragma once

// A test phone with voice: a phone engine whose microphone plays a tone and whose loudspeaker is
// kept in memory, for "who hears whom" checks with toneToTotalDb().

#include "phone/callmedia.h"
#include "support/audiotools.h"
#include "support/fixtures.h"

#include <memory>

namespace sotto::test {

// A phone with voice: its microphone plays a tone, its loudspeaker is kept in memory.
struct VoicePhone
{
    VoicePhone(const QString &account, double hz) : phone(account), hz(hz)
    {
        media = std::make_unique<phone::CallMedia>(phone.engine(), [this]() -> Result<phone::CallMedia::Devices> {
            auto out = std::make_unique<MemoryAudioOutput>();
            heard = out.get();
            return phone::CallMedia::Devices{std::make_unique<audio::FileAudioInput>(tone(this->hz, 5.0), true), std::move(out)};
        });
    }
    TestPhone phone;
    double hz;
    std::unique_ptr<phone::CallMedia> media;
    MemoryAudioOutput *heard = nullptr; // owned by the call's media, valid while it runs
    std::vector<qint16> keep() const { return heard ? heard->samples : std::vector<qint16>{}; }
};

} // namespace sotto::test
