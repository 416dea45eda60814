// Reference frames of the Open Ephys Event Broadcaster, built the way the plugin builds them, for
// test/controller/openephys-format.test.ts (the emulator's and the bridge's codecs are checked against them).
//
// Sources (read them next to this file):
//   open-ephys-plugins/event-broadcaster, Source/EventBroadcaster.cpp, sendEvent() and sendSpike():
//     release 0.2.0 (GUI 0.6, commit 863fe5b9fc92e110e022c647d72bc13e882f4be8) and
//     0.3.0 (GUI 1.0, commit c79d7f85466b981aa5dcee0ff85738ef61b6cdfe) build identical frames.
//   open-ephys/plugin-GUI v0.6.7 (commit 8c6453954b431a1f48f18b8fc3ddd1282eeda56d):
//     Source/Processors/Events/Event.cpp  Event::serializeHeader, TTLEvent::serialize, TTLEvent::createTTLEvent
//     Source/Processors/Events/Spike.cpp  Spike::serialize
//     Source/Processors/Events/Event.h    enum EventBase::Type {SYSTEM_EVENT, PROCESSOR_EVENT, SPIKE_EVENT}
//     Source/Processors/Settings/EventChannel.h  EventChannel::TTL = 3; SpikeChannel.h SINGLE = 1, TETRODE = 3
//     (unchanged in v1.0.1, commit 7d8c513ae643d2d5cd37a7f95558343c8422873e)
//   The JSON text is JUCE's own JSON::toString (JUCE 6.0.8 as vendored in plugin-GUI v0.6.7,
//   JuceLibraryCode/modules/juce_core): this program links that juce_core, so the number formatting
//   (serialiseDouble), the 2-space indentation and the "\r\n" line ends are JUCE's, not a transcription.
//
// Build and run (needs the plugin-GUI sources at v0.6.7 in $GUI):
//   g++ -std=c++17 -DJUCE_STANDALONE_APPLICATION=1 -DJUCE_GLOBAL_MODULE_SETTINGS_INCLUDED=1 -DJUCE_USE_CURL=0 \
//       -DNDEBUG=1 -I $GUI/JuceLibraryCode/modules $GUI/JuceLibraryCode/modules/juce_core/juce_core.cpp \
//       test/reference/openephys_broadcaster_fixtures.cpp -o /tmp/oe-fixtures -lpthread -ldl -lrt
//   /tmp/oe-fixtures > test/fixtures/openephys/broadcaster-frames.json
#include <juce_core/juce_core.h>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace juce;

#define SPIKE_BASE_SIZE 26
#define EVENT_BASE_SIZE 24
enum EventBaseType { SYSTEM_EVENT, PROCESSOR_EVENT, SPIKE_EVENT };
enum EventChannelType { TTL = 3 };
enum SpikeChannelType { SINGLE = 1, STEREOTRODE, TETRODE };

static std::string hex(const void* p, size_t n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    auto b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) { s += d[b[i] >> 4]; s += d[b[i] & 15]; }
    return s;
}

static std::vector<std::string> out;

static void emit(const String& name, uint16 type, const std::string& payloadHex, const String& input) {
    String line = "  {\"name\": " + JSON::toString(var(name)) + ", \"type\": " + String((int) type)
        + ", \"typeFrame\": \"" + String(hex(&type, 2)) + "\", \"payload\": \"" + String(payloadHex)
        + "\", \"input\": " + input + "}";
    out.push_back(line.toStdString());
}

// EventBroadcaster::sendEvent, JSON branch (the property order is the plugin's).
static void ttlJson(const String& name, const String& stream, int sourceNode, float sampleRate,
                    const String& channelName, int64 sampleNumber, uint8 line, bool state) {
    DynamicObject::Ptr jsonObj = new DynamicObject();
    jsonObj->setProperty("event_type", "ttl");
    jsonObj->setProperty("stream", stream);
    jsonObj->setProperty("source_node", sourceNode);
    jsonObj->setProperty("sample_rate", sampleRate);
    jsonObj->setProperty("channel_name", channelName);
    jsonObj->setProperty("sample_number", sampleNumber);
    jsonObj->setProperty("line", line);
    jsonObj->setProperty("state", state);
    String jsonString = JSON::toString(var(jsonObj));
    DynamicObject::Ptr in = new DynamicObject();
    in->setProperty("stream", stream);
    in->setProperty("sourceNode", sourceNode);
    in->setProperty("sampleRate", sampleRate);
    in->setProperty("channelName", channelName);
    in->setProperty("sampleNumber", String(sampleNumber));
    in->setProperty("line", line);
    in->setProperty("state", state);
    emit(name, 0, hex(jsonString.toRawUTF8(), jsonString.getNumBytesAsUTF8()), JSON::toString(var(in), true));
}

// EventBroadcaster::sendSpike, JSON branch: amp<k> = -data[prePeakSamples + 1] of channel k.
static void spikeJson(const String& name, const String& stream, int sourceNode, const String& electrode,
                      int numChannels, float sampleRate, int64 sampleNumber, uint16 sortedId,
                      const std::vector<float>& peakPlusOne) {
    DynamicObject::Ptr jsonObj = new DynamicObject();
    jsonObj->setProperty("event_type", "spike");
    jsonObj->setProperty("stream", stream);
    jsonObj->setProperty("source_node", sourceNode);
    jsonObj->setProperty("electrode", electrode);
    jsonObj->setProperty("num_channels", numChannels);
    jsonObj->setProperty("sample_rate", sampleRate);
    jsonObj->setProperty("sample_number", sampleNumber);
    jsonObj->setProperty("sorted_id", sortedId);
    Array<var> amps;
    for (int ch = 0; ch < numChannels; ch++) {
        float amp = -peakPlusOne[ch];
        jsonObj->setProperty("amp" + String(ch + 1), amp);
        amps.add(peakPlusOne[ch]);
    }
    String jsonString = JSON::toString(var(jsonObj));
    DynamicObject::Ptr in = new DynamicObject();
    in->setProperty("stream", stream);
    in->setProperty("sourceNode", sourceNode);
    in->setProperty("electrode", electrode);
    in->setProperty("sampleRate", sampleRate);
    in->setProperty("sampleNumber", String(sampleNumber));
    in->setProperty("sortedId", sortedId);
    in->setProperty("samplesAfterPeak", amps);
    emit(name, 1, hex(jsonString.toRawUTF8(), jsonString.getNumBytesAsUTF8()), JSON::toString(var(in), true));
}

// Event::serializeHeader + TTLEvent::serialize (data = line, state, uint64 word); metadata bytes follow.
static void ttlBinary(const String& name, uint16 nodeId, uint16 streamId, uint16 localIndex, int64 sampleNumber,
                      double timestamp, uint8 line, bool state, uint64 word, const std::vector<uint8>& metadata) {
    size_t dataSize = 10;
    size_t size = dataSize + metadata.size() + EVENT_BASE_SIZE;
    HeapBlock<char> buffer(size, true);
    *(buffer + 0) = PROCESSOR_EVENT;
    *(buffer + 1) = static_cast<char>(TTL);
    *(reinterpret_cast<uint16*>(buffer + 2)) = nodeId;
    *(reinterpret_cast<uint16*>(buffer + 4)) = streamId;
    *(reinterpret_cast<uint16*>(buffer + 6)) = localIndex;
    *(reinterpret_cast<juce::int64*>(buffer + 8)) = sampleNumber;
    *(reinterpret_cast<double*>(buffer + 16)) = timestamp;
    uint8 data[10];
    data[0] = line;
    data[1] = state;
    *reinterpret_cast<uint64*>(data + 2) = word;
    memcpy(buffer + EVENT_BASE_SIZE, data, dataSize);
    if (!metadata.empty()) memcpy(buffer + EVENT_BASE_SIZE + dataSize, metadata.data(), metadata.size());
    DynamicObject::Ptr in = new DynamicObject();
    in->setProperty("sourceNode", nodeId);
    in->setProperty("streamId", streamId);
    in->setProperty("channelIndex", localIndex);
    in->setProperty("sampleNumber", String(sampleNumber));
    in->setProperty("timestamp", timestamp);
    in->setProperty("line", line);
    in->setProperty("state", state);
    in->setProperty("word", String(word));
    in->setProperty("metadataBytes", (int) metadata.size());
    emit(name, 0, hex(buffer.getData(), size), JSON::toString(var(in), true));
}

// Spike::serialize: header, uint16 sorted id at 24, thresholds (float per channel), waveform (float).
static void spikeBinary(const String& name, uint8 channelType, uint16 nodeId, uint16 streamId, uint16 localIndex,
                        int64 sampleNumber, double timestamp, uint16 sortedId, const std::vector<float>& thresholds,
                        const std::vector<float>& waveform) {
    size_t dataSize = waveform.size() * sizeof(float);
    size_t size = SPIKE_BASE_SIZE + dataSize + thresholds.size() * sizeof(float);
    HeapBlock<char> buffer(size, true);
    *(buffer + 0) = SPIKE_EVENT;
    *(buffer + 1) = static_cast<char>(channelType);
    *(reinterpret_cast<uint16*>(buffer + 2)) = nodeId;
    *(reinterpret_cast<uint16*>(buffer + 4)) = streamId;
    *(reinterpret_cast<uint16*>(buffer + 6)) = localIndex;
    *(reinterpret_cast<juce::int64*>(buffer + 8)) = sampleNumber;
    *(reinterpret_cast<double*>(buffer + 16)) = timestamp;
    *(reinterpret_cast<uint16*>(buffer + 24)) = sortedId;
    int memIdx = SPIKE_BASE_SIZE;
    for (size_t i = 0; i < thresholds.size(); i++) {
        *(reinterpret_cast<float*>(buffer + memIdx)) = thresholds[i];
        memIdx += sizeof(float);
    }
    memcpy(buffer + memIdx, waveform.data(), dataSize);
    DynamicObject::Ptr in = new DynamicObject();
    in->setProperty("channelType", channelType);
    in->setProperty("sourceNode", nodeId);
    in->setProperty("streamId", streamId);
    in->setProperty("channelIndex", localIndex);
    in->setProperty("sampleNumber", String(sampleNumber));
    in->setProperty("timestamp", timestamp);
    in->setProperty("sortedId", sortedId);
    in->setProperty("numChannels", (int) thresholds.size());
    in->setProperty("samplesPerChannel", (int) (waveform.size() / thresholds.size()));
    emit(name, 1, hex(buffer.getData(), size), JSON::toString(var(in), true));
}

int main() {
    ttlJson("ttl-json-rising", "example_data", 100, 30000.0f, "TTL Input", 1234567, 3, true);
    ttlJson("ttl-json-falling-large-sample", "example_data", 100, 30000.0f, "TTL Input", (int64) 12345678901LL, 8, false);
    ttlJson("ttl-json-odd-rate", "Probe-A AP", 104, 30000.9f, "Crossing detector output", 77, 0, true);
    spikeJson("spike-json-single", "example_data", 105, "Electrode 1", 1, 30000.0f, 123456, 0, {-47.123f});
    spikeJson("spike-json-sorted", "example_data", 105, "Electrode 12", 1, 30000.0f, 987654321, 2, {-152.5f});
    spikeJson("spike-json-tetrode", "example_data", 105, "Tetrode 2", 4, 30000.0f, 42, 1,
              {0.0f, -1234567.0f, -0.000001f, 88.0f});
    ttlBinary("ttl-binary-rising", 100, 0, 0, 1234567, 41.1522333, 3, true, 0x0Bu, {});
    ttlBinary("ttl-binary-word-64", 100, 1, 2, (int64) 12345678901LL, 411522.63, 63, true, 0x8000000000000105ull, {});
    ttlBinary("ttl-binary-with-metadata", 104, 0, 0, 5000, 0.16666, 8, true, 0x100u,
              {0x88, 0x13, 0, 0, 0, 0, 0, 0, 0, 0, 0x48, 0x43, 0, 0, 0x20, 0x43, 1});
    {
        std::vector<float> wave(40);
        for (int i = 0; i < 40; i++) wave[i] = (float) (i == 9 ? -80.25 : (i - 20) * 0.5);
        spikeBinary("spike-binary-single", SINGLE, 105, 0, 3, 123456, 4.1152, 0, {-45.5f}, wave);
    }
    {
        std::vector<float> wave(4 * 40);
        for (int i = 0; i < 160; i++) wave[i] = (float) ((i % 40) - 10);
        spikeBinary("spike-binary-tetrode", TETRODE, 105, 2, 1, (int64) 9876543210LL, 329218.107, 3,
                    {-40.0f, -41.0f, -42.0f, -43.5f}, wave);
    }
    printf("[\n");
    for (size_t i = 0; i < out.size(); ++i) printf("%s%s\n", out[i].c_str(), i + 1 < out.size() ? "," : "");
    printf("]\n");
    return 0;
}
