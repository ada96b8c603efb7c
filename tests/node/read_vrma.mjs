// Reads a .vrma with three.js's GLTFLoader and three-vrm's VRMAnimationLoaderPlugin (the loader
// three-vrm apps use) and prints, as JSON, what the plugin made of it: per-bone rotation tracks,
// the hips translation track, expression tracks and the look-at track (times and values).
import { readFileSync } from "node:fs";
import { GLTFLoader } from "three/examples/jsm/loaders/GLTFLoader.js";
import { VRMAnimationLoaderPlugin } from "@pixiv/three-vrm-animation";

const bytes = readFileSync(process.argv[2]);
const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
const loader = new GLTFLoader();
loader.register((parser) => new VRMAnimationLoaderPlugin(parser));
loader.parse(buffer, "", (gltf) => {
  const anims = gltf.userData.vrmAnimations ?? [];
  if (anims.length === 0) { console.error("no vrmAnimations"); process.exit(4); }
  const a = anims[0];
  const track = (t) => ({ times: Array.from(t.times), values: Array.from(t.values) });
  const rotation = {};
  for (const [bone, t] of a.humanoidTracks.rotation) rotation[bone] = track(t);
  const translation = {};
  for (const [bone, t] of a.humanoidTracks.translation) translation[bone] = track(t);
  const expressions = {};
  const exprMaps = a.expressionTracks.preset ? [a.expressionTracks.preset, a.expressionTracks.custom] : [a.expressionTracks];
  for (const m of exprMaps) for (const [name, t] of m) expressions[name] = track(t);
  console.log(JSON.stringify({
    duration: a.duration, restHipsPosition: a.restHipsPosition.toArray(), rotation, translation, expressions,
    lookAt: a.lookAtTrack ? track(a.lookAtTrack) : null,
  }));
}, (err) => { console.error(String(err)); process.exit(3); });
