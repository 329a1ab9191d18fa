// Package web holds the browser side of tickroom — the dashboard page, its
// ES modules, styles, the tickroom.js client library and vendored
// libraries — embedded in the binary so nothing needs building to run.
package web

import (
	"embed"
	"io/fs"
)

//go:embed *.html *.js *.css vendor client
var files embed.FS

// Files returns the static files, rooted at the site root ("index.html",
// "tickroom.js", ...). Safe for concurrent use.
func Files() fs.FS { return files }
