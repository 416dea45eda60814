// Builds the demo stimulus set (protocols/demo.yaml) from Debian's tuxpaint-stamps-default photographs:
// each stamp (a photo on a transparent background) is cropped to its opaque pixels, scaled to fit 85 % of a
// 224×224 frame (Lanczos3, alpha premultiplied), centred and flattened onto uniform gray (128,128,128).
// Writes <set>/*.png, <set>/manifest.json (with sha256), LICENSE and ATTRIBUTION.md. Deterministic: the
// choice lists below are fixed and sorted; PNG encoding has no timestamps.
//
//   npx tsx stimuli/demo/build-demo-set.ts [--stamps /usr/share/tuxpaint/stamps] [--out stimuli/demo]
// Over 400 lines: most of it is the fixed, sorted choice lists of stamps (data, ~300 lines); the code itself
// is short.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import sharp from "sharp";

const FRAME = 224; // px, side of every stimulus: the backbone's input, so features and maps line up pixel for pixel
const FILL = 0.85; // longest side of the object's opaque bounding box, as a fraction of the frame
const GRAY = { r: 128, g: 128, b: 128 };
const ALPHA_MIN = 16; // alpha (0..255) above which a pixel counts towards the object's bounding box
const PACKAGE = "tuxpaint-stamps-default";

// Photographs only (cartoons, drawings, renders, stamps under 100 px and human figures were excluded by eye, from
// contact sheets of every stamp), paths relative to the stamps folder. Bodies: animals of every class (mammals,
// birds, fish, insects, amphibians, a reptile, crustaceans); the control bodies are a separate set of photographs,
// mostly of other species (a few species, e.g. rabbit, pig and gnu, appear in both sets as different animals; no
// photograph appears twice). Objects: fruit, vegetables, tools, instruments, household things, vehicles, plants,
// sports balls, a teddy bear and a rubber duck (objects shaped like bodies, the cases the shared-feature maps are for).
const BODIES = [
  "animals/birds/adelaide-rosella.png",
  "animals/birds/albino_peahen.png",
  "animals/birds/blackbird.png",
  "animals/birds/chicken_profile.png",
  "animals/birds/crow.png",
  "animals/birds/crowned_crane.png",
  "animals/birds/cuckoo.png",
  "animals/birds/gander.png",
  "animals/birds/hen.png",
  "animals/birds/heron_greatblue.png",
  "animals/birds/heron_greatblue_flying.png",
  "animals/birds/lark.png",
  "animals/birds/magpie.png",
  "animals/birds/nandou.png",
  "animals/birds/ostrich.png",
  "animals/birds/owl.png",
  "animals/birds/peacock.png",
  "animals/birds/pelican.png",
  "animals/birds/pigeon.png",
  "animals/birds/pink_flamingo.png",
  "animals/birds/quetzal.png",
  "animals/birds/rainbow-lorikeet.png",
  "animals/birds/rooster.png",
  "animals/birds/seagull.png",
  "animals/birds/silver-gull.png",
  "animals/birds/tucan.png",
  "animals/birds/turkey.png",
  "animals/birds/vulture.png",
  "animals/fish/bluegroper.png",
  "animals/fish/coraltrout.png",
  "animals/fish/dolphinfish.png",
  "animals/fish/moonwrasse.png",
  "animals/fish/shrimp.png",
  "animals/fish/stripedfish.png",
  "animals/insects/Brown_slug.png",
  "animals/insects/Woodlouse.png",
  "animals/insects/grasshopper.png",
  "animals/insects/hoverfly.png",
  "animals/insects/xanthia.png",
  "animals/lizards/iguana.png",
  "animals/mammals/apes/chimp.png",
  "animals/mammals/apes/gorilla.png",
  "animals/mammals/apes/tamarin_emperor.png",
  "animals/mammals/aquatic/orca.png",
  "animals/mammals/aquatic/otter.png",
  "animals/mammals/aquatic/sea_lion.png",
  "animals/mammals/aquatic/whale.png",
  "animals/mammals/badger.png",
  "animals/mammals/bears/bear.png",
  "animals/mammals/bovines/bison.png",
  "animals/mammals/bovines/bull.png",
  "animals/mammals/bovines/cow.png",
  "animals/mammals/bovines/cow_white.png",
  "animals/mammals/bovines/gnu-baby.png",
  "animals/mammals/bovines/gnu-sitting.png",
  "animals/mammals/bovines/gnu-stand.png",
  "animals/mammals/bovines/goat.png",
  "animals/mammals/bovines/indian_blackbuck.png",
  "animals/mammals/bovines/ram.png",
  "animals/mammals/bovines/sheep.png",
  "animals/mammals/bovines/sheep_lamb.png",
  "animals/mammals/bovines/yak.png",
  "animals/mammals/camel/camel.png",
  "animals/mammals/cats/lion-2.png",
  "animals/mammals/cats/lion.png",
  "animals/mammals/cats/tiger.png",
  "animals/mammals/cats/tiger_sumatran.png",
  "animals/mammals/deer/caribou.png",
  "animals/mammals/deer/deer.png",
  "animals/mammals/deer/wapiti.png",
  "animals/mammals/dogs/dingo.png",
  "animals/mammals/dogs/dog.png",
  "animals/mammals/elephant.png",
  "animals/mammals/equines/horse.png",
  "animals/mammals/equines/zebra.png",
  "animals/mammals/ferret.png",
  "animals/mammals/giraffe.png",
  "animals/mammals/hippopotamus.png",
  "animals/mammals/pig.png",
  "animals/mammals/rabbit_little.png",
  "animals/mammals/rhino_black.png",
  "animals/mammals/rodents/beaver.png",
  "animals/mammals/rodents/capybara.png",
  "animals/mammals/rodents/mouse.png",
  "animals/mammals/rodents/rabbit.png",
  "animals/mammals/rodents/rat.png",
  "animals/mammals/rodents/squirrel.png",
  "animals/mammals/wildboar.png",
  "animals/marsupials/koala.png",
];

const CONTROL_BODIES = [
  "animals/amphibians/frog-1.png",
  "animals/amphibians/frog.png",
  "animals/birds/drake.png",
  "animals/birds/duck.png",
  "animals/birds/guineafowl.png",
  "animals/birds/helmeted_guineafowl.png",
  "animals/birds/little-penguin.png",
  "animals/birds/magellanic_penguin.png",
  "animals/birds/penguin.png",
  "animals/fish/lionfish.png",
  "animals/fish/lobster.png",
  "animals/fish/seahorse.png",
  "animals/insects/hornet.png",
  "animals/insects/mantis.png",
  "animals/mammals/aquatic/dolphin.png",
  "animals/mammals/bears/european-bear.png",
  "animals/mammals/bovines/gnu-baby-stand.png",
  "animals/mammals/bovines/mountaingoat.png",
  "animals/mammals/bovines/zebu.png",
  "animals/mammals/camel/dromedary.png",
  "animals/mammals/deer/doe.png",
  "animals/mammals/dogs/fox.png",
  "animals/mammals/equines/donkey.png",
  "animals/mammals/equines/donkey_eating.png",
  "animals/mammals/pig_golden.png",
  "animals/mammals/pig_golden2.png",
  "animals/mammals/rodents/marmot.png",
  "animals/mammals/rodents/rabbit-2.png",
  "animals/marsupials/kangaroo.png",
  "animals/marsupials/wombat.png",
];

const OBJECTS = [
  "animals/mammals/bears/toys/edward_bear.png",
  "food/fruit/Apricot_whole.png",
  "food/fruit/Cherry_Stella.png",
  "food/fruit/Strawberry2.png",
  "food/fruit/apricot.png",
  "food/fruit/avocado.png",
  "food/fruit/cherimoya.png",
  "food/fruit/grapes.png",
  "food/fruit/kiwi.png",
  "food/fruit/lemon.png",
  "food/fruit/mandarine.png",
  "food/fruit/orange_seville.png",
  "food/fruit/pineapple.png",
  "food/spices/ginger.png",
  "food/vegetables/broccoli.png",
  "food/vegetables/corn.png",
  "food/vegetables/yam.png",
  "hobbies/binoculars.png",
  "hobbies/camera_35mm.png",
  "hobbies/music/brass/trumpet.png",
  "hobbies/music/percussion/cymbal_crash.png",
  "hobbies/music/percussion/drum_tomtom_floor.png",
  "hobbies/music/percussion/drumkit.png",
  "hobbies/music/string/cello.png",
  "hobbies/music/string/guitar2.png",
  "hobbies/music/string/guitar_classical.png",
  "hobbies/music/string/guitar_electric.png",
  "hobbies/music/string/guitar_electric_bass.png",
  "hobbies/music/string/violin.png",
  "hobbies/music/wind/bassoon.png",
  "household/Lightbulb.png",
  "household/arttools/highlighter.png",
  "household/arttools/pen_dryerase.png",
  "household/cylinder.png",
  "household/dishes/mug.png",
  "household/dishes/pitcher_small.png",
  "household/dishes/utensils/nutcracker.png",
  "household/dishes/utensils/pepper_grinder.png",
  "household/garbagecan.png",
  "household/home_compost_bin.png",
  "household/kettle.png",
  "household/key.png",
  "household/rubberduck.png",
  "household/toilet.png",
  "household/tools/cementmixer.png",
  "household/tools/hammer.png",
  "household/tools/mallet_metal.png",
  "household/tools/measuring_tape.png",
  "household/tools/plyers.png",
  "household/tools/saw.png",
  "household/tools/spade.png",
  "household/tools/toolbox.png",
  "household/tools/wrench.png",
  "household/tools/wrench_adjustable.png",
  "household/tools/wrench_plumbers.png",
  "household/wheelie_bin.png",
  "medical/bandage_adhesive.png",
  "medical/mercurythermometer.png",
  "medical/stethoscope.png",
  "medical/syringe.png",
  "military/final-roll-call.png",
  "military/vehicles/bradley.png",
  "military/vehicles/f22_raptor.png",
  "military/vehicles/infantry-stryker.png",
  "plants/eggplant.png",
  "plants/flowers/adeenia.png",
  "plants/flowers/anemone_red.png",
  "plants/flowers/anthoorium.png",
  "plants/flowers/bolsom.png",
  "plants/flowers/daffodil.png",
  "plants/flowers/flower1.png",
  "plants/flowers/flower10.png",
  "plants/flowers/flower2.png",
  "plants/flowers/flower3.png",
  "plants/flowers/flower4.png",
  "plants/flowers/flower5.png",
  "plants/flowers/flower6.png",
  "plants/flowers/flower7.png",
  "plants/flowers/flower8.png",
  "plants/flowers/flower9.png",
  "plants/flowers/iris.png",
  "plants/flowers/marigold.png",
  "plants/flowers/pigface.png",
  "plants/flowers/plastic/chuvanna_plastic_poo.png",
  "plants/flowers/red-gazania.png",
  "plants/flowers/rose.png",
  "plants/flowers/whitestar-petunia.png",
  "plants/flowers/yellow-flower.png",
  "plants/lavender.png",
  "plants/lettuce_bolted.png",
  "plants/mushrooms/cep-1.png",
  "plants/mushrooms/cep-2.png",
  "plants/mushrooms/cep.png",
  "plants/thyme.png",
  "plants/trees/holm_oak.png",
  "plants/trees/liberia-palm.png",
  "plants/trees/pinecone.png",
  "plants/trees/rambutan.png",
  "plants/trees/tree336.png",
  "seasonal/candle.png",
  "seasonal/christmas/Candy_cane_photo_1.png",
  "seasonal/christmas/Candy_cane_photo_2.png",
  "seasonal/christmas/Christmas_Tree_photo.png",
  "seasonal/christmas/Christmas_pudding.png",
  "seasonal/christmas/Mince_Pie.png",
  "seasonal/halloween/grave-a.png",
  "seasonal/halloween/grave-c.png",
  "seasonal/halloween/grave-d.png",
  "seasonal/halloween/grave-f.png",
  "seasonal/halloween/grave-i.png",
  "space/apollo_lander.png",
  "space/moon/moon_3qt.png",
  "space/moon/moon_full.png",
  "space/planets/2_venus.png",
  "space/planets/3_earth.png",
  "space/planets/4_mars.png",
  "space/planets/5_jupiter.png",
  "space/voyager2.png",
  "sports/australian_rules_football.png",
  "sports/basketball.png",
  "sports/football.png",
  "sports/soccer.png",
  "sports/tennis_racket.png",
  "sports/trophy_cup.png",
  "town/monuments/inukshuk-photo.png",
  "town/roadsigns/railroad_crossing.png",
  "town/roadsigns/traffic_cone.png",
  "town/uk_post_box.png",
  "town/usps_mailbox.png",
  "vehicles/auto/beetle.png",
  "vehicles/auto/sedan.png",
  "vehicles/auto/sportscar2.png",
  "vehicles/auto/truck.png",
  "vehicles/construction/dumper.png",
  "vehicles/cycle/pink_tricycle.png",
  "vehicles/emergency/firetruck.png",
  "vehicles/flight/balloon360.png",
  "vehicles/flight/planes/747.png",
  "vehicles/garbagetruck.png",
  "vehicles/masstransit/green_korean_bus.png",
  "vehicles/race/indycar.png",
  "vehicles/wheel_tractor.png",
];

// Names under which the changelog lists stamps whose file names differ from them.
const ALIASES: Record<string, string[]> = {
  "hobbies/camera_35mm.png": ["Camera"],
  "hobbies/music/percussion/drum_tomtom_floor.png": ["Floor tom"],
  "household/dishes/pitcher_small.png": ["Small Pitcher"],
  "household/tools/toolbox.png": ["Toolbox"],
  "sports/trophy_cup.png": ["Trophy"],
  "vehicles/cycle/pink_tricycle.png": ["Tricycle"],
  "vehicles/flight/balloon360.png": ["Hot air balloon"],
};

interface SetSpec {
  dir: string;
  set: string;
  idPrefix: string;
  category: "body" | "object";
  stamps: string[];
}

const SETS: SetSpec[] = [
  { dir: "bodies", set: "demo-bodies", idPrefix: "body", category: "body", stamps: BODIES },
  { dir: "objects", set: "demo-objects", idPrefix: "object", category: "object", stamps: OBJECTS },
  {
    dir: "control-bodies",
    set: "demo-control-bodies",
    idPrefix: "control",
    category: "body",
    stamps: CONTROL_BODIES,
  },
];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const here = dirname(fileURLToPath(import.meta.url));
const stampsRoot = resolve(arg("--stamps", "/usr/share/tuxpaint/stamps"));
const outRoot = resolve(arg("--out", here));
const docDir = `/usr/share/doc/${PACKAGE}`;

function packageVersion(): string {
  try {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    return execFileSync("dpkg-query", ["-W", "-f=${Version}", PACKAGE], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

function idFor(prefix: string, stamp: string): string {
  return `${prefix}-${basename(stamp, ".png")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")}`;
}

/** Crop to the opaque bounding box, fit into FILL·FRAME, centre on gray, return PNG bytes. */
async function composite(src: string): Promise<Buffer> {
  const { data, info } = await sharp(src).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const { width: w, height: h, channels } = info;
  let x0 = w;
  let y0 = h;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (data[(y * w + x) * channels + 3] > ALPHA_MIN) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) throw new Error(`${src}: no opaque pixels`);
  const box = Math.round(FRAME * FILL);
  const cropW = x1 - x0 + 1;
  const cropH = y1 - y0 + 1;
  const scale = box / Math.max(cropW, cropH);
  const outW = Math.max(1, Math.round(cropW * scale));
  const outH = Math.max(1, Math.round(cropH * scale));
  // Resize the RGBA crop (sharp premultiplies alpha for the resampling), then flatten onto the gray.
  const resized = await sharp(data, { raw: { width: w, height: h, channels } })
    .extract({ left: x0, top: y0, width: cropW, height: cropH })
    .resize(outW, outH, { kernel: "lanczos3", fit: "fill" })
    .png()
    .toBuffer();
  const left = Math.floor((FRAME - outW) / 2);
  const top = Math.floor((FRAME - outH) / 2);
  return sharp({ create: { width: FRAME, height: FRAME, channels: 3, background: GRAY } })
    .composite([{ input: resized, left, top }])
    .removeAlpha()
    .png({ compressionLevel: 9, adaptiveFiltering: true, palette: false })
    .toBuffer();
}

// ---- per-stamp credits from the package's upstream changelog ---------------------------------------------

interface Line {
  n: number;
  indent: number;
  text: string;
}

function readChangelog(): Line[] {
  const file = join(docDir, "changelog.gz");
  if (!existsSync(file)) return [];
  return gunzipSync(readFileSync(file))
    .toString("utf8")
    .split("\n")
    .map((raw, i) => {
      const expanded = raw.replace(/\t/g, "        ");
      return { n: i + 1, indent: expanded.length - expanded.trimStart().length, text: expanded.trim() };
    });
}

const norm = (s: string): string =>
  s
    .toLowerCase()
    .replace(/\(.*?\)/g, " ")
    .replace(/\.(png|svg|ogg)\b/g, " ")
    .replace(/\bphotos?\b/g, " ")
    .replace(/[^a-z0-9]+/g, " ")
    .trim();
const wordKey = (s: string): string => norm(s).split(" ").filter(Boolean).sort().join(" ");
const isItem = (t: string): boolean => /^[+*-]\s/.test(t);

/** Does this changelog line name the stamp (its path, its file name, or its name as a list item)? */
function mentions(line: Line, stamp: string): boolean {
  const file = basename(stamp);
  const esc = (t: string): string => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  if (line.text.includes(stamp) || new RegExp(`(^|[^A-Za-z0-9_-])${esc(file)}\\b`).test(line.text))
    return true;
  // A path without its extension, or a glob such as animals/mammals/bovines/gnu*.
  for (const token of line.text.match(/[A-Za-z0-9_/*.-]+\/[A-Za-z0-9_*.-]+/g) ?? []) {
    const pattern = new RegExp(`^${token.split("*").map(esc).join("[^/]*")}(\\.png)?$`);
    if (pattern.test(stamp)) return true;
  }
  for (const alias of ALIASES[stamp] ?? []) {
    if (new RegExp(`(^|[^A-Za-z0-9_/.-])${esc(alias)}(?![A-Za-z0-9_.-])`, "i").test(line.text)) return true;
  }
  if (!isItem(line.text) && !/,/.test(line.text)) return false;
  const name = basename(stamp, ".png").replace(/[-_]?\d+$/, "");
  const want = wordKey(name.replace(/[_-]/g, " "));
  const squashed = want.replace(/ /g, "");
  const parts = line.text
    .replace(/^[+*-]\s+/, "")
    .split(/,|\band\b/)
    .map((p) => p.replace(/^\s*(an?|the)\s+/i, ""));
  return parts.some((p) => {
    const key = wordKey(p);
    return key !== "" && (key === want || key.replace(/ /g, "") === squashed);
  });
}

const MAX_PARAGRAPH = 12; // longer paragraphs (long lists of stamps) are cut to their credit lines

/**
 * A verbatim excerpt of the changelog around a mention: the release heading, the enclosing entries' headings
 * with the notes right under them (before their first list item), and the mention's paragraph (the run of
 * lines at or below its indentation between blank lines, which holds a list's trailing credit lines).
 */
function creditFor(lines: Line[], at: number): string[] {
  const mention = lines[at];
  const chain: string[][] = [];
  let indent = mention.indent;
  let start = at;
  while (start > 0 && lines[start - 1].text !== "" && lines[start - 1].indent >= mention.indent) start--;
  for (let i = at - 1; i >= 0 && indent > 0; i--) {
    const l = lines[i];
    if (l.text === "" || l.indent >= indent) continue;
    indent = l.indent;
    if (l.indent === 0) {
      chain.push([`(changelog entry ${l.text})`]);
      break;
    }
    const notes: string[] = [l.text];
    for (let j = i + 1; j < start && lines[j].text !== "" && !isItem(lines[j].text); j++)
      notes.push(lines[j].text);
    chain.push(notes);
  }
  let end = at;
  while (end + 1 < lines.length && lines[end + 1].text !== "" && lines[end + 1].indent >= mention.indent)
    end++;
  const paragraph = lines.slice(start, end + 1);
  const body =
    paragraph.length <= MAX_PARAGRAPH
      ? paragraph
      : paragraph.filter(
          (l) => l.n === mention.n || (!isItem(l.text) && l.indent > mention.indent) || !isItem(l.text),
        );
  const out = chain.reverse().flat();
  let last = -1;
  for (const l of body) {
    if (last >= 0 && l.n !== last + 1) out.push("...");
    out.push(l.n === mention.n ? `${l.text}  <-- [changelog line ${l.n}]` : l.text);
    last = l.n;
  }
  return out;
}

function credits(lines: Line[], stamp: string): string[][] {
  const found: string[][] = [];
  lines.forEach((l, i) => {
    if (mentions(l, stamp)) found.push(creditFor(lines, i));
  });
  return found;
}

// ---- main ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const version = packageVersion();
  const changelog = readChangelog();
  const all = SETS.flatMap((s) => s.stamps);
  const dupes = all.filter((s, i) => all.indexOf(s) !== i);
  if (dupes.length > 0) throw new Error(`stamps chosen twice: ${dupes.join(", ")}`);
  const attribution: string[] = [
    "# Demo stimuli: attribution",
    "",
    `Every image in this folder is a photograph from the Debian package \`${PACKAGE}\` version ${version}`,
    "(upstream: Tux Paint Stamps, https://tuxpaint.org/, copyright 2002-2022 Bill Kendrick and contributors),",
    "licensed under the GNU General Public License version 2 or later (see LICENSE). Each stamp was cropped to",
    `its opaque pixels, scaled (Lanczos3) so its longer side is ${Math.round(FILL * 100)} % of a ${FRAME}×${FRAME} frame, centred and`,
    "flattened onto uniform gray (128,128,128) by `npx tsx stimuli/demo/build-demo-set.ts`.",
    "",
    "Per-stamp credits below are copied from the package's upstream changelog",
    `(${docDir}/changelog.gz); where none names the stamp, the package copyright`,
    `(${docDir}/copyright: "Copyright: 2002-2022 by Bill Kendrick", GPL-2) applies.`,
    "Excerpts are verbatim; long lists are cut to the mention (marked <--) and the list's non-item lines.",
    'Mentions are found by path, file name, or list-item name, so a name match (e.g. "Rabbit") may also',
    "refer to a sibling stamp of the same name or to an earlier version of the file.",
    "",
  ];
  let total = 0;
  for (const spec of SETS) {
    const dir = join(outRoot, spec.dir);
    if (existsSync(dir)) {
      for (const f of readdirSync(dir)) if (f.endsWith(".png") || f === "manifest.json") rmSync(join(dir, f));
    }
    mkdirSync(dir, { recursive: true });
    const images = [];
    attribution.push(`## ${spec.dir}/ (${spec.stamps.length} images)`, "");
    for (const stamp of [...spec.stamps].sort()) {
      const src = join(stampsRoot, stamp);
      const id = idFor(spec.idPrefix, stamp);
      const png = await composite(src);
      const file = `${id}.png`;
      writeFileSync(join(dir, file), png);
      total += png.length;
      const source = `${PACKAGE} ${version}: /usr/share/tuxpaint/stamps/${stamp}`;
      images.push({
        id,
        path: file,
        category: spec.category,
        sha256: createHash("sha256").update(png).digest("hex"),
        source,
        license: "GPL-2.0-or-later",
      });
      attribution.push(`### ${spec.dir}/${file}`, "", `Source: \`/usr/share/tuxpaint/stamps/${stamp}\``, "");
      const found = credits(changelog, stamp);
      if (found.length === 0)
        attribution.push("Changelog credit: none names this stamp (package copyright applies).", "");
      for (const block of found) attribution.push("```", ...block, "```", "");
    }
    const manifest = { version: 1, set: spec.set, images };
    writeFileSync(join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    console.log(`${spec.dir}: ${images.length} images`);
  }
  writeFileSync(join(outRoot, "ATTRIBUTION.md"), `${attribution.join("\n")}\n`);
  const gpl = "/usr/share/common-licenses/GPL-2";
  const licenseHead = [
    `The images in this folder (bodies/, objects/, control-bodies/) are derived from photographs in the Debian`,
    `package ${PACKAGE} ${version} (Tux Paint Stamps, copyright 2002-2022 Bill Kendrick and contributors;`,
    "per-stamp credits in ATTRIBUTION.md) and are distributed under the GNU General Public License, version 2",
    "or (at your option) any later version. The full text of GPL version 2 follows.",
    "",
    "----------------------------------------------------------------------------------------------------",
    "",
  ].join("\n");
  writeFileSync(join(outRoot, "LICENSE"), licenseHead + readFileSync(gpl, "utf8"));
  console.log(`demo set: ${(total / 1024 / 1024).toFixed(2)} MiB of PNG in ${outRoot}`);
}

await main();
