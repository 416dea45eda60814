// tfjs-core's Node bundle registers no gradient functions; tfjs-layers' Node bundle registers all of core's
// (into the process-global gradient registry), so importing it once makes tf.grad work for every op we use.
import "@tensorflow/tfjs-layers";
