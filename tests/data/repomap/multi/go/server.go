package server

const DefaultPort = 8080

type Handler interface {
	Serve(path string) string
}

type Server struct {
	port int
}

func NewServer(port int) *Server {
	return &Server{port: port}
}

func (s *Server) Start(h Handler) string {
	return h.Serve("/")
}
