// Live Lab 3D view: the solved skeleton, from the bones the outputs send, on a simple mannequin;
// or the user's own .vrm (loaded locally with three-vrm, never uploaded), driven the same way.
//
// Frames: the stream's `rig` channel is in Unity's frame (left-handed, +X right); the internal
// frame (right-handed, +Y up, +Z the subject's front, +X the subject's left) is three.js's and
// VRM 1.0's, so quaternions convert as (x, -y, -z, w) and positions as (-x, y, z).
import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";
import { VRMLoaderPlugin, VRMUtils } from "@pixiv/three-vrm";

const BONE_COLOR = 0x5aa9ff;
const JOINT_COLOR = 0xdbe4ff;

// Unity humanoid bone name → VRM 1.0 humanoid bone name (thumbs are renumbered in VRM 1.0).
function vrmName(unity) {
  const thumb = unity.match(/^(Left|Right)Thumb(Proximal|Intermediate|Distal)$/);
  if (thumb) {
    const part = { Proximal: "Metacarpal", Intermediate: "Proximal", Distal: "Distal" }[thumb[2]];
    return thumb[1].toLowerCase() + "Thumb" + part;
  }
  return unity[0].toLowerCase() + unity.slice(1);
}

// ARKit blendshapes → VRM presets (the same idea as retarget_maps/arkit_to_vrm0.toml, simplified).
function vrmExpressions(bs) {
  const g = (n) => bs[n] || 0;
  const smile = (g("mouthSmileLeft") + g("mouthSmileRight")) / 2;
  return {
    blinkLeft: g("eyeBlinkLeft"), blinkRight: g("eyeBlinkRight"),
    aa: g("jawOpen"), oh: g("mouthFunnel"), ou: g("mouthPucker"),
    ee: Math.max(0, (g("mouthStretchLeft") + g("mouthStretchRight")) / 2),
    ih: Math.max(0, smile * 0.5), happy: smile,
    surprised: (g("browInnerUp") + g("eyeWideLeft") + g("eyeWideRight")) / 3,
    angry: (g("browDownLeft") + g("browDownRight")) / 2,
  };
}

export class AvatarView {
  constructor(canvas, message) {
    this.canvas = canvas;
    this.message = message;
    this.renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(window.devicePixelRatio || 1);
    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(0x0e1424);
    this.camera = new THREE.PerspectiveCamera(35, 1, 0.05, 50);
    this.camera.position.set(0, 1.0, 3.6);
    this.controls = new OrbitControls(this.camera, canvas);
    this.controls.target.set(0, 0.85, 0);
    this.controls.update();
    this.scene.add(new THREE.HemisphereLight(0xffffff, 0x334466, 2.2));
    const sun = new THREE.DirectionalLight(0xffffff, 1.6);
    sun.position.set(1, 2, 3);
    this.scene.add(sun);
    const grid = new THREE.GridHelper(4, 16, 0x2a3a66, 0x1c2542);
    this.scene.add(grid);
    this.bones = null; // Unity name → THREE.Object3D (mannequin)
    this.vrm = null;
    this.clock = new THREE.Clock();
    this.resize();
    new ResizeObserver(() => this.resize()).observe(canvas.parentElement);
    this.message.textContent = "waiting for the skeleton…";
  }

  resize() {
    const el = this.canvas.parentElement;
    const w = el.clientWidth || 400, h = el.clientHeight || 300;
    this.renderer.setSize(w, h, false);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
  }

  // The mannequin: one Object3D per bone at its rest offset, a capsule from each joint to its child.
  buildMannequin(skeleton) {
    if (this.bones) return;
    const { names, parents, offsets } = skeleton;
    const nodes = names.map(() => new THREE.Object3D());
    const root = new THREE.Group();
    const jointGeo = new THREE.SphereGeometry(0.022, 12, 8);
    const jointMat = new THREE.MeshStandardMaterial({ color: JOINT_COLOR, roughness: 0.6 });
    const boneMat = new THREE.MeshStandardMaterial({ color: BONE_COLOR, roughness: 0.5 });
    names.forEach((name, i) => {
      const node = nodes[i];
      node.name = name;
      node.position.fromArray(offsets[i]);
      (parents[i] < 0 ? root : nodes[parents[i]]).add(node);
      if (/Eye|Jaw/.test(name)) return;
      const small = /Thumb|Index|Middle|Ring|Little/.test(name);
      const joint = new THREE.Mesh(jointGeo, jointMat);
      joint.scale.setScalar(small ? 0.45 : name === "Head" ? 3.2 : 1);
      if (name === "Head") joint.position.y = 0.08;
      node.add(joint);
      if (parents[i] >= 0) {
        const off = new THREE.Vector3().fromArray(offsets[i]);
        const len = off.length();
        if (len > 1e-4) {
          const geo = new THREE.CylinderGeometry(small ? 0.006 : 0.016, small ? 0.006 : 0.02, len, 8);
          geo.translate(0, len / 2, 0);
          const seg = new THREE.Mesh(geo, boneMat);
          seg.quaternion.setFromUnitVectors(new THREE.Vector3(0, 1, 0), off.clone().normalize());
          seg.position.copy(off).multiplyScalar(-1);
          node.add(seg);
        }
      }
    });
    this.mannequin = root;
    this.bones = Object.fromEntries(names.map((n, i) => [n, nodes[i]]));
    this.restHips = new THREE.Vector3().fromArray(offsets[0]);
    this.scene.add(root);
    this.message.textContent = "mannequin · drag to orbit";
  }

  async loadVrm(file) {
    const loader = new GLTFLoader();
    loader.register((parser) => new VRMLoaderPlugin(parser));
    const data = await file.arrayBuffer();
    const gltf = await loader.parseAsync(data, "");
    const vrm = gltf.userData.vrm;
    if (!vrm) throw new Error(`${file.name} is not a VRM file`);
    VRMUtils.removeUnnecessaryVertices(gltf.scene);
    VRMUtils.combineSkeletons(gltf.scene);
    VRMUtils.rotateVRM0(vrm); // VRM 0.x faces -Z: turn it to face +Z like VRM 1.0
    if (this.vrm) this.scene.remove(this.vrm.scene);
    this.vrm = vrm;
    this.scene.add(vrm.scene);
    if (this.mannequin) this.mannequin.visible = false;
    this.message.textContent = `${file.name} (local file, not uploaded)`;
  }

  useMannequin() {
    if (this.vrm) {
      this.scene.remove(this.vrm.scene);
      VRMUtils.deepDispose(this.vrm.scene);
      this.vrm = null;
    }
    if (this.mannequin) this.mannequin.visible = true;
    this.message.textContent = "mannequin · drag to orbit";
  }

  // One stream frame: local bone rotations (vs the T-pose) and the hips position.
  apply(frame) {
    const rig = frame.rig;
    if (!rig) return;
    const bones = rig.bones || {};
    const hp = rig.hips_position;
    if (this.vrm) {
      const h = this.vrm.humanoid;
      for (const [name, r] of Object.entries(bones)) {
        const node = h.getNormalizedBoneNode(vrmName(name));
        if (node) node.quaternion.set(r[0], -r[1], -r[2], r[3]);
      }
      const em = this.vrm.expressionManager;
      if (em && frame.face && frame.face.blendshapes) {
        const bs = frame.face.blendshapes;
        for (const [name, v] of Object.entries(vrmExpressions(bs))) if (em.getExpression(name)) em.setValue(name, v);
        for (const [name, v] of Object.entries(bs)) if (em.getExpression(name)) em.setValue(name, v); // perfect sync
      }
      return;
    }
    if (!this.bones) return;
    const driven = Object.keys(bones).length;
    if (driven !== this.driven) {
      this.driven = driven;
      this.message.textContent = `mannequin · ${driven} of ${Object.keys(this.bones).length} bones driven · drag to orbit`;
    }
    for (const [name, node] of Object.entries(this.bones)) {
      const r = bones[name];
      if (r) node.quaternion.set(r[0], -r[1], -r[2], r[3]);
      else node.quaternion.identity();
    }
    if (hp && this.bones.Hips) this.bones.Hips.position.set(-hp[0], hp[1], hp[2]);
  }

  render() {
    const dt = this.clock.getDelta();
    if (this.vrm) this.vrm.update(dt);
    this.renderer.render(this.scene, this.camera);
  }
}
