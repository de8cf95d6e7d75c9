//go:build nofirestore

package selector

// openFirestore: this build was made with -tags nofirestore.
var openFirestore = notInBuild(Firestore, TagNoFirestore)

// hasFirestore says whether this build includes the firestore store.
const hasFirestore = false
