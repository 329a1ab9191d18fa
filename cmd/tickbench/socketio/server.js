// The classic Socket.IO chat server (https://socket.io/get-started/chat),
// minus the HTML page: every 'chat message' is re-emitted to everyone with
// io.emit. tickbench -target socketio measures it beside tickroom.
//
//   npm ci && node server.js [port]      (listens on 127.0.0.1; PORT env too)
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || process.env.PORT || 3000);
const server = http.createServer();
const io = new Server(server);

io.on("connection", (socket) => {
  socket.on("chat message", (msg) => {
    io.emit("chat message", msg);
  });
});

server.listen(port, "127.0.0.1", () => {
  console.log(`socket.io ${require("socket.io/package.json").version} chat server on 127.0.0.1:${port}, pid ${process.pid}`);
});
